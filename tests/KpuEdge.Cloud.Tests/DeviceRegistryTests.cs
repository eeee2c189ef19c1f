using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// A node's way to the device registry in the ledger (<see cref="DeviceRegistryProvider"/>), with no broker or silo: two
/// "nodes" are two providers over one ledger, each with its own cache and a fake clock.
/// </summary>
public sealed class DeviceRegistryTests : IAsyncLifetime
{
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("3273")).First();
    private readonly string _directory = Directory.CreateTempSubdirectory("kpu-registry-").FullName;
    private readonly SimulationPki _pki = SimulationPki.Create(CloudFixture.Election, seed: 21);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly SqliteLedger _ledger;
    private readonly CountingDirectory _reads;

    public DeviceRegistryTests()
    {
        _ledger = new SqliteLedger(Path.Combine(_directory, "ledger.db"));
        _reads = new CountingDirectory(_ledger);
    }

    private string RegistryPath => Path.Combine(_directory, "devices.json");

    private DeviceRegistryProvider Node(int cacheCapacity = 1000) => new(_reads, Options.Create(new CloudOptions
    {
        RegistryPath = RegistryPath, DeviceCacheCapacity = cacheCapacity, UnknownDeviceTtl = TimeSpan.FromSeconds(5),
    }), _time, _pki.Cloud, NullLogger<DeviceRegistryProvider>.Instance);

    private DeviceCredentials Issue(string id, DeviceKey? key = null) => _pki.Pki.IssueDevice(id, KpuRole.Tps, Tps.Value, key ?? DeviceKey.Generate());

    [Fact]
    public async Task A_device_registered_through_one_node_is_found_by_another_and_then_from_its_cache()
    {
        var (one, other) = (Node(), Node());
        var device = Issue("dev-shared");

        await one.RegisterCertifiedAsync(device.SigningCertificate);
        var found = await other.FindAsync("dev-shared");
        var again = await other.FindAsync("dev-shared");

        Assert.Equal(device.SigningCertificate.Der, found!.SigningCertificate!.Der);
        Assert.Same(found, again);
        Assert.Equal(1, _reads.Finds);
        Assert.Equal(1, await _ledger.DeviceCountAsync());
    }

    [Fact]
    public async Task An_unknown_device_costs_one_database_read_per_period_however_many_forms_name_it()
    {
        var node = Node();
        for (int i = 0; i < 1000; i++) Assert.Null(await node.FindAsync("dev-flood"));
        Assert.True(await node.MayDeliverAsync("dev-flood", "dev-other")); // not a registered device: a station may relay
        Assert.Equal(1, _reads.Finds);

        // Registered through another node meanwhile: this one sees it once the period is over.
        await Node().RegisterCertifiedAsync(Issue("dev-flood").SigningCertificate);
        Assert.Null(await node.FindAsync("dev-flood"));
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.NotNull(await node.FindAsync("dev-flood"));
        Assert.Equal(2, _reads.Finds);
    }

    [Fact]
    public async Task A_device_registered_through_a_node_is_found_there_at_once_though_it_was_unknown()
    {
        var node = Node();
        Assert.Null(await node.FindAsync("dev-late"));

        await node.RegisterCertifiedAsync(Issue("dev-late").SigningCertificate);

        Assert.NotNull(await node.FindAsync("dev-late"));
    }

    [Fact]
    public async Task The_cache_holds_at_most_its_capacity_and_a_flood_of_unknown_ids_never_pushes_devices_out()
    {
        var node = Node(cacheCapacity: 20);
        var devices = Enumerable.Range(0, 50).Select(i => Issue($"dev-{i:D2}")).ToList();
        await node.RegisterCertifiedAsync(devices.Select(d => d.SigningCertificate).ToList());
        foreach (var device in devices.Take(10)) Assert.NotNull(await node.FindAsync(device.DeviceId));

        for (int i = 0; i < 100; i++) Assert.Null(await node.FindAsync($"dev-unknown-{i}"));
        int reads = _reads.Finds;
        foreach (var device in devices.Take(10)) Assert.NotNull(await node.FindAsync(device.DeviceId));
        Assert.Equal(reads, _reads.Finds);

        foreach (var device in devices) Assert.Equal(device.DeviceId, (await node.FindAsync(device.DeviceId))!.DeviceId);
        Assert.InRange(node.Cache.Count, 1, 20);
        Assert.InRange(node.Cache.UnknownCount, 1, 20);
    }

    [Fact]
    public async Task A_certificate_not_from_KPU_s_CA_is_refused_with_its_reason_and_nothing_is_stored()
    {
        var foreign = EphemeralPki.Create(CloudFixture.Election.ElectionId, DateTimeOffset.UtcNow, seed: 98);
        var forged = foreign.IssueDevice("dev-forged", KpuRole.Tps, Tps.Value);

        var refused = await Assert.ThrowsAsync<InvalidDataException>(() => Node().RegisterCertifiedAsync(forged.SigningCertificate));

        Assert.Contains("dev-forged", refused.Message);
        Assert.Contains(CertificateErrors.UnknownIssuer, refused.Message);
        Assert.Equal(0, await _ledger.DeviceCountAsync());
        Assert.Null(await Node().FindAsync("dev-forged"));
    }

    [Fact]
    public async Task A_device_registered_again_with_another_certificate_is_refused_and_keeps_its_own()
    {
        var node = Node();
        var first = Issue("dev-twice");
        await node.RegisterCertifiedAsync(first.SigningCertificate);
        await node.RegisterCertifiedAsync(first.SigningCertificate); // the same again: fine

        var rekeyed = Issue("dev-twice", DeviceKey.Generate());
        var refused = await Assert.ThrowsAsync<InvalidDataException>(() => Node().RegisterCertifiedAsync(rekeyed.SigningCertificate));

        Assert.Contains("device dev-twice is registered with signing certificate", refused.Message);
        Assert.Contains("never overwrites", refused.Message);
        Assert.Equal(first.SigningCertificate.Der, (await Node().FindAsync("dev-twice"))!.SigningCertificate!.Der);
        Assert.Equal(1, await _ledger.DeviceCountAsync());
    }

    [Fact]
    public async Task The_registry_file_is_imported_once_and_a_device_written_to_it_later_is_found_at_its_first_form()
    {
        var devices = Enumerable.Range(0, 3).Select(i => Issue($"dev-file-{i}")).ToList();
        SaveFile(devices.Take(2));
        var node = Node();

        var first = await node.ImportFileAsync();
        var unchanged = await node.ImportFileAsync();

        Assert.Equal((2, 0), (first.Added, first.Held));
        Assert.Equal((0, 0), (unchanged.Added, unchanged.Held));
        Assert.Null(await node.FindAsync("dev-file-2"));

        // Provisioning writes the third into the file while the cloud runs: though just found unknown, it is served at once.
        SaveFile(devices, writtenLater: true);
        Assert.NotNull(await node.FindAsync("dev-file-2"));
        Assert.Equal(3, await _ledger.DeviceCountAsync());

        // Another node starting on the same file finds it all registered: nothing checked or written again.
        var restart = await Node().ImportFileAsync();
        Assert.Equal((0, 3), (restart.Added, restart.Held));
    }

    [Fact]
    public async Task A_file_entry_with_another_certificate_is_refused_and_the_rest_of_the_file_imported()
    {
        var registered = Issue("dev-a");
        await Node().RegisterCertifiedAsync(registered.SigningCertificate);
        SaveFile([Issue("dev-a", DeviceKey.Generate()), Issue("dev-b")]);

        var import = await Node().ImportFileAsync();

        Assert.Equal(1, import.Added);
        Assert.Equal("dev-a", Assert.Single(import.Conflicts).DeviceId);
        Assert.Equal(registered.SigningCertificate.Der, (await Node().FindAsync("dev-a"))!.SigningCertificate!.Der);
    }

    [Fact]
    public async Task A_file_entry_whose_certificate_the_CA_did_not_issue_stops_the_import_naming_it()
    {
        var foreign = EphemeralPki.Create(CloudFixture.Election.ElectionId, DateTimeOffset.UtcNow, seed: 97);
        SaveFile([Issue("dev-good"), foreign.IssueDevice("dev-forged", KpuRole.Tps, Tps.Value)]);

        var refused = await Assert.ThrowsAsync<InvalidDataException>(() => Node().ImportFileAsync());

        Assert.Contains("device dev-forged has a certificate KPU's PKI refuses", refused.Message);
        Assert.Equal(0, await _ledger.DeviceCountAsync());
    }

    private void SaveFile(IEnumerable<DeviceCredentials> devices, bool writtenLater = false)
    {
        var registry = new DeviceRegistry();
        foreach (var device in devices) registry.Register(DeviceRecord.FromCertificate(device.SigningCertificate));
        registry.Save(RegistryPath);
        // The file's time is what says it changed; a file system may keep coarse times.
        if (writtenLater) File.SetLastWriteTimeUtc(RegistryPath, File.GetLastWriteTimeUtc(RegistryPath).AddSeconds(2));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _ledger.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>The ledger's registry, counting the lookups that reach it.</summary>
    private sealed class CountingDirectory(IDeviceDirectory inner) : IDeviceDirectory
    {
        private int _finds;

        public int Finds => Volatile.Read(ref _finds);

        public Task<DeviceRegistration> RegisterDevicesAsync(IReadOnlyList<DeviceRecord> devices, CancellationToken cancellationToken = default) =>
            inner.RegisterDevicesAsync(devices, cancellationToken);

        public Task<IReadOnlyList<DeviceRecord>> FindDevicesAsync(IReadOnlyCollection<string> deviceIds, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _finds);
            return inner.FindDevicesAsync(deviceIds, cancellationToken);
        }

        public Task<IReadOnlyList<DeviceRecord>> DevicesWithCertificatesAsync(IReadOnlyCollection<string> serialHexes, CancellationToken cancellationToken = default) =>
            inner.DevicesWithCertificatesAsync(serialHexes, cancellationToken);

        public Task<long> DeviceCountAsync(CancellationToken cancellationToken = default) => inner.DeviceCountAsync(cancellationToken);
    }
}
