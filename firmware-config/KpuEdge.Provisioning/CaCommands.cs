using System.CommandLine;
using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using static KpuEdge.Provisioning.ProvisioningCli;

namespace KpuEdge.Provisioning;

/// <summary>`kpu-provision ca …`: what KPU's CA operators run. The root's folder stays on an offline machine.</summary>
internal static class CaCommands
{
    /// <summary>New certificates start this much before now, so a device whose clock is a little behind accepts them.</summary>
    private static readonly TimeSpan Backdate = TimeSpan.FromHours(1);

    public const string RootCopyFile = "root.crt";

    public static Command Create(TimeProvider time) => new("ca", "Certificate authority: create the root and issuing CA, issue, revoke, publish CRLs.")
    {
        InitRoot(time), InitIssuing(time), Issue(time), IssueService(time), IssueSigner(time), Revoke(time), Crl(time),
    };

    private static Command InitRoot(TimeProvider time)
    {
        var dir = Required("--dir", "Folder for the root CA (ca.key, ca.crt); keep it on an offline machine");
        var name = Required("--name", "Common name, e.g. \"KPU Root CA 2024\"");
        var years = new Option<int>("--years") { Description = "Validity in years", DefaultValueFactory = _ => 10 };
        var command = new Command("init-root", "Offline ceremony: create KPU's root CA (ECDSA P-256, self-signed, one CA level below it).") { dir, name, years };
        command.SetRun((parse, output) =>
        {
            string folder = parse.GetValue(dir)!;
            RefuseToOverwrite(folder);
            var now = time.GetUtcNow();
            var ca = CertificateAuthority.CreateRoot(parse.GetValue(name)!, now - Backdate, now.AddYears(parse.GetValue(years)));
            ca.Save(folder);
            output.WriteLine($"Root CA '{ca.Certificate.CommonName}' created in {folder}, valid until {ca.Certificate.NotAfter:u}.");
            output.WriteLine($"SHA-256 fingerprint (record it in the ceremony minutes): {ca.Certificate.Fingerprint}");
            return Ok;
        });
        return command;
    }

    private static Command InitIssuing(TimeProvider time)
    {
        var rootDir = Required("--root", "The root CA's folder");
        var dir = Required("--dir", "Folder for the new issuing CA");
        var name = Required("--name", "Common name, e.g. \"KPU Issuing CA 1\"");
        var years = new Option<int>("--years") { Description = "Validity in years", DefaultValueFactory = _ => 3 };
        var command = new Command("init-issuing", "Create an issuing CA signed by the root (run at the root's offline machine).") { rootDir, dir, name, years };
        command.SetRun((parse, output) =>
        {
            string folder = parse.GetValue(dir)!;
            RefuseToOverwrite(folder);
            var root = CertificateAuthority.Load(parse.GetValue(rootDir)!);
            var now = time.GetUtcNow();
            var issuing = root.CreateIssuing(parse.GetValue(name)!, now - Backdate, now.AddYears(parse.GetValue(years)));
            issuing.Save(folder);
            // The root's certificate (public) travels with the issuing CA, so chains can be written without the root's folder.
            PemFiles.WritePublic(Path.Combine(folder, RootCopyFile), root.Certificate.ToPem());
            output.WriteLine($"Issuing CA '{issuing.Certificate.CommonName}' created in {folder}, valid until {issuing.Certificate.NotAfter:u}.");
            output.WriteLine($"SHA-256 fingerprint: {issuing.Certificate.Fingerprint}");
            return Ok;
        });
        return command;
    }

    private static Command Issue(TimeProvider time)
    {
        var caDir = Required("--ca", "The issuing CA's folder");
        var chainRoot = ChainRootOption();
        var deviceDir = Required("--device-dir", "The device's folder with signing.csr and tls.csr (in reality: the USB stick)");
        var role = Required("--role", "tps or ppk");
        var assignment = Required("--assignment", "13-digit TPS code (tps) or 6-digit kecamatan code (ppk)");
        var election = Required("--election", "Election id, e.g. pemilu-2024");
        var days = new Option<int>("--days") { Description = "Validity in days", DefaultValueFactory = _ => 60 };
        var registry = Optional("--registry", "Cloud device registry (JSON) to add the device to");
        var command = new Command("issue", "Issue a device's signing and TLS certificates from its two CSRs; write signing.crt, tls.crt and chain.pem beside them.")
            { caDir, chainRoot, deviceDir, role, assignment, election, days, registry };
        command.SetRun((parse, output) =>
        {
            var ca = CertificateAuthority.Load(parse.GetValue(caDir)!);
            var rootCertificate = LoadChainRoot(parse.GetValue(chainRoot), parse.GetValue(caDir)!);
            string dir = parse.GetValue(deviceDir)!;
            byte[] signingCsr = ReadCsr(Path.Combine(dir, DeviceCredentials.SigningRequestFile));
            byte[] tlsCsr = ReadCsr(Path.Combine(dir, DeviceCredentials.TlsRequestFile));
            string deviceId = CertificateAuthority.RequestedName(signingCsr);
            var kpuRole = KpuRoles.Parse(parse.GetValue(role)!);
            if (kpuRole is not (KpuRole.Tps or KpuRole.Ppk)) throw new ArgumentException("--role must be tps or ppk for a device.");
            var identity = new KpuIdentity(deviceId, kpuRole, parse.GetValue(assignment)!, parse.GetValue(election)!);

            var now = time.GetUtcNow();
            var notAfter = now.AddDays(parse.GetValue(days));
            var signing = ca.Issue(signingCsr, identity, CertificatePurpose.Signing, now - Backdate, notAfter);
            var tls = ca.Issue(tlsCsr, identity, CertificatePurpose.TlsClient, now - Backdate, notAfter);
            PemFiles.WritePublic(Path.Combine(dir, DeviceCredentials.SigningCertificateFile), signing.ToPem());
            PemFiles.WritePublic(Path.Combine(dir, DeviceCredentials.TlsCertificateFile), tls.ToPem());
            PemFiles.WritePublic(Path.Combine(dir, DeviceCredentials.ChainFile), rootCertificate.ToPem() + ca.Certificate.ToPem());
            output.WriteLine($"Issued to {deviceId} ({kpuRole.ToText()} {identity.Assignment}, {identity.ElectionId}) until {signing.NotAfter:u}:");
            output.WriteLine($"  signing certificate (Ed25519)   serial {signing.SerialHex}");
            output.WriteLine($"  TLS client certificate (P-256)  serial {tls.SerialHex}");

            if (parse.GetValue(registry) is { } registryPath)
            {
                if (kpuRole != KpuRole.Tps)
                {
                    output.WriteLine($"Not added to {registryPath}: the registry lists TPS devices only.");
                }
                else
                {
                    var devices = DeviceRegistry.Load(registryPath);
                    devices.Register(DeviceRecord.FromCertificate(signing));
                    devices.Save(registryPath);
                    output.WriteLine($"Added to {registryPath}.");
                }
            }
            return Ok;
        });
        return command;
    }

    private static Command IssueService(TimeProvider time)
    {
        var caDir = Required("--ca", "The issuing CA's folder");
        var chainRoot = ChainRootOption();
        var name = Required("--name", "Service name (the certificate's CN and, for clients, the MQTT user name), e.g. broker, kpu-ingest");
        var purpose = Required("--purpose", "tls-server or tls-client");
        var alt = new Option<string[]>("--alt") { Description = "Subject alternative name: DNS name or IP address (repeatable)", DefaultValueFactory = _ => [] };
        var election = ElectionOption();
        var days = new Option<int>("--days") { Description = "Validity in days", DefaultValueFactory = _ => 365 };
        var outDir = Required("--out", "Folder for tls.key, tls.crt and chain.pem");
        var command = new Command("issue-service", "Create a TLS key and certificate for a cloud service (broker, ingest, API).")
            { caDir, chainRoot, name, purpose, alt, election, days, outDir };
        command.SetRun((parse, output) =>
        {
            var ca = CertificateAuthority.Load(parse.GetValue(caDir)!);
            var rootCertificate = LoadChainRoot(parse.GetValue(chainRoot), parse.GetValue(caDir)!);
            var certificatePurpose = parse.GetValue(purpose) switch
            {
                "tls-server" => CertificatePurpose.TlsServer,
                "tls-client" => CertificatePurpose.TlsClient,
                var other => throw new ArgumentException($"--purpose must be tls-server or tls-client, not '{other}'."),
            };
            string serviceName = parse.GetValue(name)!;
            var identity = new KpuIdentity(serviceName, KpuRole.Service, "", parse.GetValue(election)!);
            var key = TlsKey.Generate();
            var now = time.GetUtcNow();
            var certificate = ca.Issue(key.CreateCsr(serviceName), identity, certificatePurpose, now - Backdate, now.AddDays(parse.GetValue(days)), parse.GetValue(alt));
            string dir = parse.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            PemFiles.WritePrivate(Path.Combine(dir, DeviceCredentials.TlsKeyFile), key.ToPem());
            PemFiles.WritePublic(Path.Combine(dir, DeviceCredentials.TlsCertificateFile), certificate.ToPem());
            PemFiles.WritePublic(Path.Combine(dir, DeviceCredentials.ChainFile), rootCertificate.ToPem() + ca.Certificate.ToPem());
            output.WriteLine($"Issued {parse.GetValue(purpose)} certificate for {serviceName} (serial {certificate.SerialHex}) until {certificate.NotAfter:u} into {dir}.");
            return Ok;
        });
        return command;
    }

    private static Command IssueSigner(TimeProvider time)
    {
        var caDir = Required("--ca", "The issuing CA's folder");
        var chainRoot = ChainRootOption();
        var name = Required("--name", "Signer name, e.g. kpu-config");
        var role = Required("--role", "config or log");
        var election = ElectionOption();
        var days = new Option<int>("--days") { Description = "Validity in days", DefaultValueFactory = _ => 365 };
        var outDir = Required("--out", "Folder for signing.key, signing.crt and chain.pem");
        var command = new Command("issue-signer", "Create an Ed25519 signing key and certificate for the configuration or log signer.")
            { caDir, chainRoot, name, role, election, days, outDir };
        command.SetRun((parse, output) =>
        {
            var ca = CertificateAuthority.Load(parse.GetValue(caDir)!);
            var rootCertificate = LoadChainRoot(parse.GetValue(chainRoot), parse.GetValue(caDir)!);
            var kpuRole = KpuRoles.Parse(parse.GetValue(role)!);
            if (kpuRole is not (KpuRole.Config or KpuRole.Log)) throw new ArgumentException("--role must be config or log.");
            string signerName = parse.GetValue(name)!;
            var identity = new KpuIdentity(signerName, kpuRole, "", parse.GetValue(election)!);
            var key = DeviceKey.Generate();
            var now = time.GetUtcNow();
            var certificate = ca.Issue(SigningRequests.ForSigningKey(key, signerName), identity, CertificatePurpose.Signing, now - Backdate, now.AddDays(parse.GetValue(days)));
            string dir = parse.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            PemFiles.WritePrivate(Path.Combine(dir, DeviceCredentials.SigningKeyFile), PemFiles.SigningKeyToPem(key));
            PemFiles.WritePublic(Path.Combine(dir, DeviceCredentials.SigningCertificateFile), certificate.ToPem());
            PemFiles.WritePublic(Path.Combine(dir, DeviceCredentials.ChainFile), rootCertificate.ToPem() + ca.Certificate.ToPem());
            output.WriteLine($"Issued {kpuRole.ToText()} signer {signerName} (serial {certificate.SerialHex}) until {certificate.NotAfter:u} into {dir}.");
            if (kpuRole == KpuRole.Log)
            {
                // What devices get in their configuration bundle and verifiers out of band: the key named by the log's origin.
                string origin = KpuEdge.Crypto.Transparency.Checkpoint.DefaultOrigin(parse.GetValue(election)!);
                string verifierKey = KpuEdge.Crypto.Transparency.NoteVerifierKey.Create(origin, key).ToString();
                PemFiles.WritePublic(Path.Combine(dir, "verifier-key.txt"), verifierKey + "\n");
                output.WriteLine($"Log verifier key (origin {origin}), also in {Path.Combine(dir, "verifier-key.txt")}:");
                output.WriteLine(verifierKey);
            }
            return Ok;
        });
        return command;
    }

    private static Command Revoke(TimeProvider time)
    {
        var caDir = Required("--ca", "The issuing CA's folder (revoked.json is kept there)");
        var serial = Optional("--serial", "Serial number in hex (as `openssl x509 -serial` prints it, colons allowed)");
        var cert = Optional("--cert", "Or the certificate file (PEM) to revoke");
        var reason = new Option<string>("--reason") { Description = "unspecified, key-compromise, superseded or cessation-of-operation", DefaultValueFactory = _ => "unspecified" };
        var at = Optional("--at", "Revocation time (ISO 8601; default now). Forms signed after it are refused");
        var command = new Command("revoke", "Revoke a certificate: add it to revoked.json; `ca crl` publishes the list.") { caDir, serial, cert, reason, at };
        command.SetRun((parse, output) =>
        {
            string dir = parse.GetValue(caDir)!;
            var ca = CertificateAuthority.Load(dir);
            string serialHex;
            if (parse.GetValue(cert) is { } certFile)
            {
                var certificate = KpuCertificate.FromPem(File.ReadAllText(certFile));
                if (!ca.Issued(certificate)) throw new ArgumentException($"{certFile} was not issued by {ca.Certificate.CommonName}; its CRL cannot revoke it.");
                serialHex = certificate.SerialHex;
            }
            else
            {
                serialHex = Serials.Normalize(parse.GetValue(serial)) ?? throw new ArgumentException("Give --serial HEX or --cert FILE.");
            }
            var when = parse.GetValue(at) is { } text ? DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : time.GetUtcNow();
            var entry = new RevokedCertificate(serialHex, when, RevocationFile.ParseReason(parse.GetValue(reason)!));
            var list = RevocationFile.Load(dir);
            if (list.Any(r => r.SerialHex == serialHex))
            {
                output.WriteLine($"Serial {serialHex} is already revoked; nothing changed.");
                return Ok;
            }
            RevocationFile.Save(dir, [.. list, entry]);
            output.WriteLine($"Revoked serial {serialHex} ({RevocationFile.ReasonText(entry.Reason)}) as of {when:u}. Publish with `ca crl`.");
            return Ok;
        });
        return command;
    }

    private static Command Crl(TimeProvider time)
    {
        var caDir = Required("--ca", "The issuing CA's folder");
        var outFile = Required("--out", "CRL file to write (DER)");
        var days = new Option<int>("--days") { Description = "Days until the next update", DefaultValueFactory = _ => 7 };
        var command = new Command("crl", "Write the CA's certificate revocation list (DER X.509 v2 CRL) from revoked.json.") { caDir, outFile, days };
        command.SetRun((parse, output) =>
        {
            string dir = parse.GetValue(caDir)!;
            var ca = CertificateAuthority.Load(dir);
            var revoked = RevocationFile.Load(dir);
            var now = time.GetUtcNow();
            byte[] crl = ca.CreateCrl(revoked, now, now.AddDays(parse.GetValue(days)));
            string path = parse.GetValue(outFile)!;
            string temp = path + ".tmp";
            File.WriteAllBytes(temp, crl);
            File.Move(temp, path, overwrite: true);
            output.WriteLine($"CRL of {ca.Certificate.CommonName} with {revoked.Count} revoked certificate(s) written to {path}; next update {now.AddDays(parse.GetValue(days)):u}.");
            return Ok;
        });
        return command;
    }

    private static Option<string?> ChainRootOption() =>
        Optional("--chain-root", $"The root CA's folder or certificate file, for chain.pem (default: {RootCopyFile} in the issuing CA's folder)");

    private static Option<string> ElectionOption() =>
        new("--election") { Description = "Election id", DefaultValueFactory = _ => ElectionDefinition.Default.ElectionId };

    private static KpuCertificate LoadChainRoot(string? chainRoot, string caDir)
    {
        string path = chainRoot is null ? Path.Combine(caDir, RootCopyFile)
            : Directory.Exists(chainRoot) ? Path.Combine(chainRoot, CertificateAuthority.CertificateFile)
            : chainRoot;
        var root = KpuCertificate.FromPem(File.ReadAllText(path));
        if (!root.IsCertificateAuthority || !root.Bc.IssuerDN.Equivalent(root.Bc.SubjectDN))
            throw new ArgumentException($"{path} is not a root CA certificate.");
        return root;
    }

    private static byte[] ReadCsr(string path) => PemFiles.Single(File.ReadAllText(path), PemFiles.RequestLabel);

    private static void RefuseToOverwrite(string folder)
    {
        if (File.Exists(Path.Combine(folder, CertificateAuthority.KeyFile)))
            throw new IOException($"{folder} already holds a CA key; a CA key is never overwritten.");
    }
}

/// <summary>revoked.json in an issuing CA's folder: what `ca revoke` records and `ca crl` publishes.</summary>
internal static class RevocationFile
{
    public const string FileName = "revoked.json";

    private sealed record Entry(string SerialHex, DateTimeOffset RevokedAt, string Reason);

    public static IReadOnlyList<RevokedCertificate> Load(string caDir)
    {
        string path = Path.Combine(caDir, FileName);
        if (!File.Exists(path)) return [];
        var entries = JsonSerializer.Deserialize<List<Entry>>(File.ReadAllText(path), KpuJson.Files) ?? [];
        return entries.Select(e => new RevokedCertificate(Serials.Normalize(e.SerialHex) ?? throw new InvalidDataException($"{path}: bad serial '{e.SerialHex}'."),
            e.RevokedAt, ParseReason(e.Reason))).ToList();
    }

    public static void Save(string caDir, IEnumerable<RevokedCertificate> revoked) =>
        PemFiles.WritePublic(Path.Combine(caDir, FileName),
            JsonSerializer.Serialize(revoked.Select(r => new Entry(r.SerialHex, r.RevokedAt, ReasonText(r.Reason))).ToList(), KpuJson.Files));

    public static RevocationReason ParseReason(string text) => text switch
    {
        "unspecified" => RevocationReason.Unspecified,
        "key-compromise" => RevocationReason.KeyCompromise,
        "superseded" => RevocationReason.Superseded,
        "cessation-of-operation" => RevocationReason.CessationOfOperation,
        _ => throw new ArgumentException($"Unknown revocation reason '{text}' (unspecified, key-compromise, superseded, cessation-of-operation)."),
    };

    public static string ReasonText(RevocationReason reason) => reason switch
    {
        RevocationReason.KeyCompromise => "key-compromise",
        RevocationReason.Superseded => "superseded",
        RevocationReason.CessationOfOperation => "cessation-of-operation",
        _ => "unspecified",
    };
}
