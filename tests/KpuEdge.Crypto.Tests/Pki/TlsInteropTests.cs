using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Crypto.Pki;
using static KpuEdge.Crypto.Tests.Pki.PkiSamples;

namespace KpuEdge.Crypto.Tests.Pki;

/// <summary>
/// The certificates work outside BouncyCastle: .NET's SslStream does mutual TLS with them (what the broker and the
/// devices use) and OpenSSL 3 (what mosquitto on Debian links) verifies them, keys included.
/// </summary>
public sealed class TlsInteropTests : IDisposable
{
    private static readonly DeviceCredentials TlsDevice = KpuPki.IssueDevice("dev-3273011001004", KpuRole.Tps, "3273011001004");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("kpuedge-tls-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>What the broker does with a client certificate: KPU's trust store, and .NET's own chain engine as a second opinion.</summary>
    private static bool AcceptClient(X509Certificate? certificate, List<string> log, out KpuIdentity? identity)
    {
        identity = null;
        if (certificate is null) { log.Add("no client certificate"); return false; }
        var verdict = KpuPki.Trust.Validate(certificate.GetRawCertData(), CertificatePurpose.TlsClient, Now, KpuRole.Tps, KpuRole.Ppk);
        identity = verdict.Identity;
        if (!verdict.Ok) { log.Add($"{verdict.Error}: {verdict.Detail}"); return false; }
        return DotNetChainAccepts(certificate, "1.3.6.1.5.5.7.3.2", log);
    }

    private static bool DotNetChainAccepts(X509Certificate certificate, string applicationPolicy, List<string> log)
    {
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(KpuPki.Root.Certificate.ToX509Certificate2());
        chain.ChainPolicy.ExtraStore.Add(KpuPki.Issuing.Certificate.ToX509Certificate2());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = Now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(applicationPolicy));
        bool ok = chain.Build(leaf);
        if (!ok) log.Add(".NET chain: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        return ok && chain.ChainElements.Count == 3;
    }

    private static SslStreamCertificateContext Context(X509Certificate2 withKey) =>
        SslStreamCertificateContext.Create(withKey, [KpuPki.Issuing.Certificate.ToX509Certificate2()], offline: true);

    [Fact]
    public async Task A_device_and_the_broker_authenticate_each_other_over_TLS_with_their_KPU_certificates()
    {
        var (brokerCertificate, _) = KpuPki.IssueService("broker", CertificatePurpose.TlsServer, ["localhost", "127.0.0.1"]);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serverLog = new List<string>();
        var clientLog = new List<string>();
        KpuIdentity? deviceSeenByBroker = null;

        var server = Task.Run(async () =>
        {
            using var tcp = await listener.AcceptTcpClientAsync(timeout.Token);
            await using var tls = new SslStream(tcp.GetStream());
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = Context(brokerCertificate),
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => AcceptClient(certificate, serverLog, out deviceSeenByBroker),
            }, timeout.Token);
            byte[] message = new byte[5];
            await tls.ReadExactlyAsync(message, timeout.Token);
            await tls.WriteAsync("ACK:"u8.ToArray().Concat(message).ToArray(), timeout.Token);
            return tls.IsMutuallyAuthenticated;
        });

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        await using var clientTls = new SslStream(client.GetStream());
        await clientTls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificateContext = Context(TlsDevice.TlsClientCertificate()),
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) { clientLog.Add("name mismatch"); return false; }
                var verdict = KpuPki.Trust.Validate(certificate!.GetRawCertData(), CertificatePurpose.TlsServer, Now, KpuRole.Service);
                if (!verdict.Ok) clientLog.Add($"{verdict.Error}: {verdict.Detail}");
                return verdict.Ok && DotNetChainAccepts(certificate, "1.3.6.1.5.5.7.3.1", clientLog);
            },
        }, timeout.Token);
        await clientTls.WriteAsync("C1-OK"u8.ToArray(), timeout.Token);
        byte[] reply = new byte[9];
        await clientTls.ReadExactlyAsync(reply, timeout.Token);

        Assert.True(await server, string.Join(" | ", serverLog));
        Assert.Empty(serverLog);
        Assert.Empty(clientLog);
        Assert.Equal("ACK:C1-OK"u8.ToArray(), reply);
        Assert.Equal(TlsDevice.Identity, deviceSeenByBroker);
        Assert.True(clientTls.IsMutuallyAuthenticated);
    }

    [Fact]
    public async Task The_broker_refuses_a_device_certificate_from_another_PKI()
    {
        var (brokerCertificate, _) = KpuPki.IssueService("broker", CertificatePurpose.TlsServer, ["localhost"]);
        var impostor = OtherPki.IssueDevice("dev-3273011001004", KpuRole.Tps, "3273011001004");
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serverLog = new List<string>();

        var server = Task.Run(async () =>
        {
            using var tcp = await listener.AcceptTcpClientAsync(timeout.Token);
            await using var tls = new SslStream(tcp.GetStream());
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = brokerCertificate,
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => AcceptClient(certificate, serverLog, out _),
            }, timeout.Token);
        });
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        await using var clientTls = new SslStream(client.GetStream());
        try
        {
            await clientTls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificates = [impostor.TlsClientCertificate()],
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, timeout.Token);
            await clientTls.WriteAsync(new byte[1], timeout.Token);
            _ = await clientTls.ReadAsync(new byte[1], timeout.Token);
        }
        catch (Exception e) when (e is AuthenticationException or IOException) { } // TLS 1.3 may report the refusal on the first read

        await Assert.ThrowsAsync<AuthenticationException>(() => server);
        Assert.Contains(serverLog, line => line.StartsWith(CertificateErrors.UnknownIssuer, StringComparison.Ordinal));
    }

    [Fact]
    public async Task OpenSSL_as_the_device_does_mutual_TLS_with_the_PKCS8_key_and_certificate_files()
    {
        // mosquitto's bridge/client side is OpenSSL reading exactly these files: tls.key, tls.crt, chain.pem.
        var (brokerCertificate, _) = KpuPki.IssueService("broker", CertificatePurpose.TlsServer, ["localhost", "127.0.0.1"]);
        string key = Write("tls.key", TlsDevice.TlsKey.ToPem());
        string cert = Write("tls.crt", TlsDevice.TlsCertificate.ToPem());
        string chain = Write("chain.pem", TlsDevice.ChainPem());
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serverLog = new List<string>();
        KpuIdentity? seen = null;

        var server = Task.Run(async () =>
        {
            using var tcp = await listener.AcceptTcpClientAsync(timeout.Token);
            await using var tls = new SslStream(tcp.GetStream());
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = Context(brokerCertificate),
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => AcceptClient(certificate, serverLog, out seen),
            }, timeout.Token);
            byte[] message = new byte[5];
            await tls.ReadExactlyAsync(message, timeout.Token);
            await tls.ShutdownAsync(); // close_notify, so OpenSSL ends cleanly
            return (tls.IsMutuallyAuthenticated, System.Text.Encoding.ASCII.GetString(message));
        });
        var client = Task.Run(() => OpenSslWithInput("C1-OK\n", "s_client", "-connect", $"127.0.0.1:{port}", "-cert", cert, "-key", key, "-CAfile", chain,
            "-verify_return_error", "-attime", At, "-verify_hostname", "localhost", "-quiet"));

        var (mutual, message) = await server;
        var (exit, output) = await client;

        Assert.True(mutual, string.Join(" | ", serverLog));
        Assert.Equal("C1-OK", message);
        Assert.Equal(TlsDevice.Identity, seen);
        Assert.True(exit == 0, output);
    }

    private static (int Exit, string Output) OpenSsl(params string[] arguments) => OpenSslWithInput(null, arguments);

    private static (int Exit, string Output) OpenSslWithInput(string? input, params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        if (input is not null) process.StandardInput.Write(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(30_000), "openssl did not finish");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static string At => Now.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void OpenSSL_accepts_a_device_TLS_certificate_for_client_authentication()
    {
        string root = Write("root.pem", KpuPki.Root.Certificate.ToPem());
        string issuing = Write("issuing.pem", KpuPki.Issuing.Certificate.ToPem());
        string leaf = Write("tls.crt", TlsDevice.TlsCertificate.ToPem());

        var (exit, output) = OpenSsl("verify", "-x509_strict", "-attime", At, "-CAfile", root, "-untrusted", issuing, "-purpose", "sslclient", leaf);

        Assert.True(exit == 0, output);
        Assert.Contains("tls.crt: OK", output);
        var chain = Write("chain.pem", TlsDevice.ChainPem());
        Assert.Equal(0, OpenSsl("verify", "-attime", At, "-CAfile", chain, "-purpose", "sslclient", leaf).Exit);
    }

    [Fact]
    public void OpenSSL_accepts_a_server_certificate_for_its_host_name_and_address()
    {
        var (withKey, server) = KpuPki.IssueService("broker", CertificatePurpose.TlsServer, ["localhost", "127.0.0.1"]);
        withKey.Dispose();
        string chain = Write("chain.pem", TlsDevice.ChainPem());
        string leaf = Write("server.crt", server.ToPem());

        Assert.Equal(0, OpenSsl("verify", "-x509_strict", "-attime", At, "-CAfile", chain, "-purpose", "sslserver", "-verify_hostname", "localhost", leaf).Exit);
        Assert.Equal(0, OpenSsl("verify", "-attime", At, "-CAfile", chain, "-purpose", "sslserver", "-verify_ip", "127.0.0.1", leaf).Exit);
        Assert.NotEqual(0, OpenSsl("verify", "-attime", At, "-CAfile", chain, "-purpose", "sslserver", "-verify_hostname", "evil.example", leaf).Exit);
        Assert.NotEqual(0, OpenSsl("verify", "-attime", At, "-CAfile", chain, "-purpose", "sslclient", leaf).Exit);
    }

    [Fact]
    public void OpenSSL_refuses_a_signing_certificate_for_TLS_a_foreign_chain_and_a_revoked_certificate()
    {
        string chain = Write("chain.pem", TlsDevice.ChainPem());
        string otherChain = Write("other.pem", OtherPki.IssueDevice("dev-x", KpuRole.Tps, Tps).ChainPem());
        string signing = Write("signing.crt", TlsDevice.SigningCertificate.ToPem());
        string tls = Write("tls.crt", TlsDevice.TlsCertificate.ToPem());
        string crl = Write("crl.pem", PemFiles.Write("X509 CRL", KpuPki.Issuing.CreateCrl(
            [new RevokedCertificate(TlsDevice.TlsCertificate.SerialHex, Now.AddMinutes(-1), RevocationReason.KeyCompromise)], Now.AddMinutes(-1), Now.AddDays(7))));

        var purpose = OpenSsl("verify", "-attime", At, "-CAfile", chain, "-purpose", "sslclient", signing);
        Assert.NotEqual(0, purpose.Exit);
        Assert.Contains("unsuitable certificate purpose", purpose.Output);
        Assert.Equal(0, OpenSsl("verify", "-attime", At, "-CAfile", chain, signing).Exit); // the chain itself is sound
        Assert.NotEqual(0, OpenSsl("verify", "-attime", At, "-CAfile", otherChain, "-purpose", "sslclient", tls).Exit);
        var revoked = OpenSsl("verify", "-attime", At, "-CAfile", chain, "-crl_check", "-CRLfile", crl, "-purpose", "sslclient", tls);
        Assert.NotEqual(0, revoked.Exit);
        Assert.Contains("certificate revoked", revoked.Output);
    }

    [Fact]
    public void OpenSSL_reads_the_private_key_files_and_they_match_the_certificates()
    {
        string tlsKey = Write("tls.key", TlsDevice.TlsKey.ToPem());
        string tlsCert = Write("tls.crt", TlsDevice.TlsCertificate.ToPem());
        string signingKey = Write("signing.key", PemFiles.SigningKeyToPem(TlsDevice.SigningKey));
        string signingCert = Write("signing.crt", TlsDevice.SigningCertificate.ToPem());

        foreach (var (key, cert) in new[] { (tlsKey, tlsCert), (signingKey, signingCert) })
        {
            var fromKey = OpenSsl("pkey", "-in", key, "-pubout");
            var fromCert = OpenSsl("x509", "-in", cert, "-noout", "-pubkey");
            Assert.True(fromKey.Exit == 0, fromKey.Output);
            Assert.Equal(fromCert.Output, fromKey.Output);
        }
    }
}
