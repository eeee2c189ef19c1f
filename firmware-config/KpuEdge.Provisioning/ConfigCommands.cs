using System.CommandLine;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using static KpuEdge.Provisioning.ProvisioningCli;

namespace KpuEdge.Provisioning;

/// <summary>`kpu-provision config …`: KPU's configuration signer writes a device's signed configuration bundle.</summary>
internal static class ConfigCommands
{
    public static Command Create(TimeProvider time) => new("config", "Signed device configuration bundles.") { Sign(time) };

    private static Command Sign(TimeProvider time)
    {
        var signer = Required("--signer", "The config signer's folder (signing.key, signing.crt from `ca issue-signer --role config`)");
        var deviceDir = Required("--device-dir", "The device's folder: its signing.crt gives id, role and assignment; chain.pem the CA certificates");
        var broker = new Option<string[]>("--broker") { Description = "Broker endpoint, e.g. mqtts://127.0.0.1:8883 (repeatable, in order of preference)", Required = true };
        var election = Required("--election", "Election id; must be the one in the device's certificate");
        var logKey = Required("--log-key", "The transparency log's verifier key (C2SP note verifier key text)");
        var api = Optional("--api", "Base URL of the public API");
        var days = new Option<int>("--days") { Description = "Validity in days", DefaultValueFactory = _ => 30 };
        var interval = new Option<int>("--telemetry-interval") { Description = "Seconds between health reports", DefaultValueFactory = _ => 300 };
        var outFile = Required("--out", "Bundle file to write");
        var command = new Command("sign", "Write a device's configuration bundle, signed with the config signer's Ed25519 key.")
            { signer, deviceDir, broker, election, logKey, api, days, interval, outFile };
        command.SetRun((parse, output) =>
        {
            string signerDir = parse.GetValue(signer)!;
            var key = PemFiles.SigningKeyFromPem(File.ReadAllText(Path.Combine(signerDir, DeviceCredentials.SigningKeyFile)));
            var signerCertificate = KpuCertificate.FromPem(File.ReadAllText(Path.Combine(signerDir, DeviceCredentials.SigningCertificateFile)));
            string dir = parse.GetValue(deviceDir)!;
            var device = KpuCertificate.FromPem(File.ReadAllText(Path.Combine(dir, DeviceCredentials.SigningCertificateFile)));
            var identity = device.Identity ?? throw new ArgumentException($"{dir}: {DeviceCredentials.SigningCertificateFile} is not a KPU device certificate.");
            string electionId = parse.GetValue(election)!;
            if (electionId != identity.ElectionId)
                throw new ArgumentException($"The device is certified for election '{identity.ElectionId}', not '{electionId}'.");
            var chain = KpuCertificate.AllFromPem(File.ReadAllText(Path.Combine(dir, DeviceCredentials.ChainFile)));
            var brokers = parse.GetValue(broker)!;
            foreach (var b in brokers)
            {
                if (!Uri.TryCreate(b, UriKind.Absolute, out var uri) || uri.Scheme is not ("mqtts" or "mqtt") || uri.Port <= 0)
                    throw new ArgumentException($"Not a broker endpoint: '{b}' (mqtts://host:port).");
            }

            var now = time.GetUtcNow();
            var config = new DeviceConfig
            {
                DeviceId = identity.Name,
                Role = identity.Role,
                Assignment = identity.Assignment,
                ElectionId = identity.ElectionId,
                Brokers = brokers,
                CaCertificates = chain.Select(c => c.ToPem()).ToList(),
                LogVerifierKey = parse.GetValue(logKey)!,
                ApiBase = parse.GetValue(api),
                Telemetry = new TelemetrySettings
                {
                    Interval = TimeSpan.FromSeconds(parse.GetValue(interval)),
                    Topic = $"{Topics.Prefix}/device/{identity.Name}/telemetry",
                },
                IssuedAt = now,
                ExpiresAt = now.AddDays(parse.GetValue(days)),
            };
            string path = parse.GetValue(outFile)!;
            PemFiles.WritePublic(path, ConfigBundle.Sign(config, key, signerCertificate));
            output.WriteLine($"Configuration for {config.DeviceId} ({config.Role.ToText()} {config.Assignment}) signed by {signerCertificate.CommonName}, valid until {config.ExpiresAt:u}: {path}");
            return Ok;
        });
        return command;
    }
}
