using System.CommandLine;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using static KpuEdge.Provisioning.ProvisioningCli;

namespace KpuEdge.Provisioning;

/// <summary>`kpu-provision device …`: what runs on the TPS device itself. The private keys never leave its folder.</summary>
internal static class DeviceCommands
{
    public static Command Create(TimeProvider time) => new("device", "On the device: create its keys and CSRs, install a signed configuration bundle.")
    {
        Init(), InstallConfig(time),
    };

    private static Command Init()
    {
        var dir = Required("--dir", "The device's folder");
        var id = Required("--id", "Device id, e.g. dev-3273011001003");
        var command = new Command("init", "Create the device's signing key (Ed25519) and TLS key (P-256), mode 0600, and their CSRs.") { dir, id };
        command.SetRun((parse, output) =>
        {
            string folder = parse.GetValue(dir)!;
            string deviceId = parse.GetValue(id)!;
            if (!KpuIdentity.IsValidName(deviceId))
                throw new ArgumentException($"ID perangkat tidak sah: '{deviceId}' (huruf, angka, '.', '_', '-'; paling banyak 64 karakter).");
            string signingKeyPath = Path.Combine(folder, DeviceCredentials.SigningKeyFile);
            string tlsKeyPath = Path.Combine(folder, DeviceCredentials.TlsKeyFile);
            if (File.Exists(signingKeyPath) || File.Exists(tlsKeyPath))
                throw new IOException($"Perangkat sudah memiliki kunci di {folder}; kunci tidak akan ditimpa.");
            Directory.CreateDirectory(folder);

            var signingKey = DeviceKey.Generate();
            var tlsKey = TlsKey.Generate();
            PemFiles.WritePrivate(signingKeyPath, PemFiles.SigningKeyToPem(signingKey));
            PemFiles.WritePrivate(tlsKeyPath, tlsKey.ToPem());
            PemFiles.WritePublic(Path.Combine(folder, DeviceCredentials.SigningRequestFile), PemFiles.Write(PemFiles.RequestLabel, SigningRequests.ForSigningKey(signingKey, deviceId)));
            PemFiles.WritePublic(Path.Combine(folder, DeviceCredentials.TlsRequestFile), PemFiles.Write(PemFiles.RequestLabel, tlsKey.CreateCsr(deviceId)));
            output.WriteLine($"Kunci perangkat {deviceId} dibuat di {folder} (hanya dapat dibaca perangkat ini).");
            output.WriteLine($"Serahkan {DeviceCredentials.SigningRequestFile} dan {DeviceCredentials.TlsRequestFile} ke petugas KPU untuk disertifikasi.");
            output.WriteLine($"Kunci publik penandatanganan: {signingKey.PublicKey.ToBase64()}");
            return Ok;
        });
        return command;
    }

    private static Command InstallConfig(TimeProvider time)
    {
        var dir = Required("--dir", "The device's folder (signing.crt and chain.pem from `ca issue`)");
        var bundle = Required("--bundle", "The configuration bundle to install");
        var command = new Command("install-config", "Check a configuration bundle (KPU's signature, this device, validity) and install it.") { dir, bundle };
        command.SetRun((parse, output) =>
        {
            string folder = parse.GetValue(dir)!;
            string certificatePath = Path.Combine(folder, DeviceCredentials.SigningCertificateFile);
            if (!File.Exists(certificatePath))
                throw new IOException($"Perangkat di {folder} belum disertifikasi ({DeviceCredentials.SigningCertificateFile} tidak ada).");
            var device = KpuCertificate.FromPem(File.ReadAllText(certificatePath));
            // The root in chain.pem stands for the root burned into the firmware image.
            var (root, issuing) = DeviceCredentials.SplitChain(KpuCertificate.AllFromPem(File.ReadAllText(Path.Combine(folder, DeviceCredentials.ChainFile))), folder);
            var trust = new TrustStore(root, issuing);
            string text = File.ReadAllText(parse.GetValue(bundle)!);

            var config = ConfigBundle.Open(text, trust, device.Identity ?? throw new IOException($"{certificatePath} is not a KPU device certificate."), time.GetUtcNow());

            PemFiles.WritePublic(Path.Combine(folder, DeviceCredentials.ConfigBundleFile), text);
            output.WriteLine($"Konfigurasi terpasang untuk perangkat {config.DeviceId} ({config.Role.ToText()} {config.Assignment}).");
            output.WriteLine($"Broker: {string.Join(", ", config.Brokers)}");
            output.WriteLine($"Berlaku sampai {config.ExpiresAt.ToUniversalTime():yyyy-MM-dd HH:mm} UTC.");
            return Ok;
        });
        return command;
    }
}
