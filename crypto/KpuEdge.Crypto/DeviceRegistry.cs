using KpuEdge.Core.Protocol;
using System.Collections.Concurrent;
using System.Text.Json;
using KpuEdge.Core.Regions;

namespace KpuEdge.Crypto;

/// <summary>A provisioned device: its public signing key and the TPS it is assigned to.</summary>
public sealed record DeviceRecord(string DeviceId, TpsCode Tps, DevicePublicKey PublicKey);

/// <summary>
/// The devices the cloud accepts forms from. For now a JSON file written by the provisioning command or
/// the simulator; the PKI of a later step replaces the file with certificates.
/// </summary>
public sealed class DeviceRegistry
{
    private readonly ConcurrentDictionary<string, DeviceRecord> _devices = new(StringComparer.Ordinal);

    public int Count => _devices.Count;

    public IEnumerable<DeviceRecord> All => _devices.Values;

    public bool TryGet(string deviceId, out DeviceRecord device) => _devices.TryGetValue(deviceId, out device!);

    /// <summary>Adds or replaces a device (re-provisioning a device gives it a new key).</summary>
    public void Register(DeviceRecord device) => _devices[device.DeviceId] = device;

    private sealed record Entry(string DeviceId, string Tps, string PublicKey);

    private static readonly JsonSerializerOptions Json = KpuJson.Files;

    public static DeviceRegistry Load(string path)
    {
        var registry = new DeviceRegistry();
        if (!File.Exists(path)) return registry;
        using var stream = File.OpenRead(path);
        var entries = JsonSerializer.Deserialize<List<Entry>>(stream, Json) ?? [];
        foreach (var e in entries)
        {
            if (!TpsCode.TryParse(e.Tps, out var tps))
                throw new InvalidDataException($"{path}: device {e.DeviceId} has a bad TPS code '{e.Tps}'.");
            registry.Register(new DeviceRecord(e.DeviceId, tps, DevicePublicKey.FromBase64(e.PublicKey)));
        }
        return registry;
    }

    /// <summary>Writes the registry atomically (temp file, then rename), so a crash never leaves half a file.</summary>
    public void Save(string path)
    {
        var entries = _devices.Values.OrderBy(d => d.DeviceId, StringComparer.Ordinal)
            .Select(d => new Entry(d.DeviceId, d.Tps.Value, d.PublicKey.ToBase64())).ToList();
        string temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(entries, Json));
        File.Move(temp, path, overwrite: true);
    }
}
