using System.CommandLine;
using System.Text;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using static KpuEdge.Provisioning.ProvisioningCli;

namespace KpuEdge.Provisioning;

/// <summary>
/// A mosquitto ACL file from the device registry: each device may publish only to its own TPS's submission and image
/// topics and read only its own receipts and image acknowledgements; the ingest service reads every submission and writes receipts. Meant for a
/// mosquitto with <c>require_certificate true</c> and <c>use_identity_as_username true</c>, so the user name is
/// the certificate's CN — the device id.
/// </summary>
public static class MosquittoAcl
{
    public static string Render(DeviceRegistry registry, string? ingest)
    {
        var text = new StringBuilder();
        text.Append("# mosquitto ACL written by kpu-provision from the device registry; do not edit by hand.\n");
        text.Append("# Requires: require_certificate true, use_identity_as_username true (user name = certificate CN).\n");
        foreach (var device in registry.All.OrderBy(d => d.DeviceId, StringComparer.Ordinal))
        {
            // A space or wildcard in an id would change what the ACL line means.
            if (!KpuEdge.Crypto.Pki.KpuIdentity.IsValidName(device.DeviceId))
                throw new ArgumentException($"Device id '{device.DeviceId}' cannot be a mosquitto user name.");
            text.Append('\n');
            text.Append($"user {device.DeviceId}\n");
            // Under its own name only: the ingest answers the sender the topic names.
            text.Append($"topic write {Topics.Prefix}/tps/{device.Tps.Value}/c1/+/{device.DeviceId}\n");
            text.Append($"topic write {Topics.Prefix}/tps/{device.Tps.Value}/img/+/{device.DeviceId}\n");
            text.Append($"topic read {Topics.Receipt(device.DeviceId)}\n");
            text.Append($"topic read {Topics.ImageAck(device.DeviceId)}\n");
            text.Append($"topic read {Topics.Config(device.DeviceId)}\n");
            text.Append($"topic write {Topics.Telemetry(device.DeviceId)}\n");
        }
        if (ingest is not null)
        {
            text.Append('\n');
            text.Append($"user {ingest}\n");
            text.Append($"topic read {Topics.AllSubmissions}\n");
            text.Append($"topic read {Topics.AllImages}\n");
            text.Append($"topic write {Topics.Prefix}/device/+/receipt\n");
            text.Append($"topic write {Topics.Prefix}/device/+/image\n");
            text.Append($"topic write {Topics.Prefix}/device/+/config\n");
        }
        return text.ToString();
    }

    internal static Command Command()
    {
        var registry = Required("--registry", "The device registry (devices.json)");
        var outFile = Required("--out", "ACL file to write");
        var ingest = Optional("--ingest", "The ingest service's client name (its TLS client certificate's CN), e.g. kpu-ingest");
        var command = new Command("mosquitto-acl", "Write a mosquitto ACL file: per device its TPS's submission topics and its receipt topic.") { registry, outFile, ingest };
        command.SetRun((parse, output) =>
        {
            string registryPath = parse.GetValue(registry)!;
            if (!File.Exists(registryPath)) throw new IOException($"No registry at {registryPath}.");
            var devices = DeviceRegistry.Load(registryPath);
            if (parse.GetValue(ingest) is { } name && !KpuEdge.Crypto.Pki.KpuIdentity.IsValidName(name))
                throw new ArgumentException($"Not a valid service name: '{name}'.");
            string path = parse.GetValue(outFile)!;
            KpuEdge.Crypto.Pki.PemFiles.WritePublic(path, Render(devices, parse.GetValue(ingest)));
            output.WriteLine($"ACL for {devices.Count} device(s){(parse.GetValue(ingest) is { } i ? $" and {i}" : "")} written to {path}.");
            return Ok;
        });
        return command;
    }
}
