using KpuEdge.Core.Regions;

namespace KpuEdge.Crypto.Tests;

public sealed class DeviceRegistryTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("kpuedge-crypto-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    private static DeviceRecord Device(string id, string tps, int seed) =>
        new(id, TpsCode.Parse(tps), DeviceKey.Deterministic(id, seed).PublicKey);

    [Fact]
    public void Survives_a_save_and_load()
    {
        var registry = new DeviceRegistry();
        registry.Register(Device("dev-b", "3273011001003", 1));
        registry.Register(Device("dev-a", "3273011001003", 2));
        registry.Register(Device("dev-c", "1101082007901", 3));
        string path = PathOf("devices.json");

        registry.Save(path);
        var loaded = DeviceRegistry.Load(path);

        Assert.Equal(3, loaded.Count);
        foreach (var device in registry.All)
        {
            Assert.True(loaded.TryGet(device.DeviceId, out var copy));
            Assert.Equal(device.Tps, copy.Tps);
            Assert.Equal(device.PublicKey.Encoded, copy.PublicKey.Encoded);
        }
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void Saves_devices_in_id_order_so_the_file_is_reproducible()
    {
        var a = new DeviceRegistry();
        a.Register(Device("dev-b", "3273011001003", 1));
        a.Register(Device("dev-a", "3273011001004", 2));
        var b = new DeviceRegistry();
        b.Register(Device("dev-a", "3273011001004", 2));
        b.Register(Device("dev-b", "3273011001003", 1));

        a.Save(PathOf("a.json"));
        b.Save(PathOf("b.json"));

        string text = File.ReadAllText(PathOf("a.json"));
        Assert.Equal(text, File.ReadAllText(PathOf("b.json")));
        Assert.True(text.IndexOf("dev-a", StringComparison.Ordinal) < text.IndexOf("dev-b", StringComparison.Ordinal));
    }

    [Fact]
    public void Saving_again_replaces_the_file()
    {
        string path = PathOf("devices.json");
        var registry = new DeviceRegistry();
        registry.Register(Device("dev-a", "3273011001003", 1));
        registry.Save(path);
        registry.Register(Device("dev-b", "3273011001003", 2));
        registry.Save(path);

        Assert.Equal(2, DeviceRegistry.Load(path).Count);
    }

    [Fact]
    public void Loading_a_missing_file_gives_an_empty_registry()
    {
        var registry = DeviceRegistry.Load(PathOf("none.json"));
        Assert.Equal(0, registry.Count);
        Assert.Empty(registry.All);
    }

    [Fact]
    public void Refuses_a_file_with_a_bad_TPS_code()
    {
        string path = PathOf("bad.json");
        string key = DeviceKey.Deterministic("dev-a", 1).PublicKey.ToBase64();
        File.WriteAllText(path, $$"""[ { "device_id": "dev-a", "tps": "3273011001000", "public_key": "{{key}}" } ]""");

        Assert.Throws<InvalidDataException>(() => DeviceRegistry.Load(path));
    }

    [Fact]
    public void Reprovisioning_a_device_replaces_its_key()
    {
        var registry = new DeviceRegistry();
        registry.Register(Device("dev-a", "3273011001003", 1));
        var replacement = Device("dev-a", "3273011001003", 2);
        registry.Register(replacement);

        Assert.Equal(1, registry.Count);
        Assert.True(registry.TryGet("dev-a", out var device));
        Assert.Same(replacement, device);
        Assert.False(registry.TryGet("DEV-A", out _));
    }
}
