using KpuEdge.Core.Protocol;
using System.Text.Json;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Edge.Device;

/// <summary>Who a TPS device is: its id, the TPS it serves and its signing key (which never leaves it).</summary>
public sealed record DeviceIdentity(string DeviceId, TpsCode Tps, DeviceKey Key)
{
    public DeviceRecord ToRecord() => new(DeviceId, Tps, Key.PublicKey);

    /// <summary>The signing identity of a provisioned TPS device (its certificate says which TPS it serves).</summary>
    public static DeviceIdentity From(DeviceCredentials credentials) =>
        new(credentials.DeviceId, credentials.Identity.Tps ?? throw new InvalidDataException($"'{credentials.DeviceId}' is not a TPS device."),
            credentials.SigningKey);

    private sealed record KeyFile(string DeviceId, string Tps, string PrivateKey, string PublicKey);

    private static readonly JsonSerializerOptions Json = KpuJson.Files;

    public static DeviceIdentity Generate(string deviceId, TpsCode tps) => new(deviceId, tps, DeviceKey.Generate());

    /// <summary>Writes the key file readable by its owner only.</summary>
    public void Save(string path)
    {
        var file = new KeyFile(DeviceId, Tps.Value, Convert.ToBase64String(Key.PrivateBytes()), Key.PublicKey.ToBase64());
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        File.WriteAllText(path, "");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(path, JsonSerializer.Serialize(file, Json));
    }

    public static DeviceIdentity Load(string path)
    {
        var file = JsonSerializer.Deserialize<KeyFile>(File.ReadAllText(path), Json)
                   ?? throw new InvalidDataException($"{path} is not a device key file.");
        var key = DeviceKey.FromPrivateBytes(Convert.FromBase64String(file.PrivateKey));
        return new DeviceIdentity(file.DeviceId, TpsCode.Parse(file.Tps), key);
    }
}
