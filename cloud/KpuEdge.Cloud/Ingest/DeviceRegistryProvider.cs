using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ingest;

/// <summary>
/// A node's way to the device registry, which lives in the ledger's database (<see cref="IDeviceDirectory"/>) so that a
/// device registered through any node is known to every node. Lookups go through a bounded <see cref="DeviceCache"/>: a
/// device found stays cached, and an id the registry does not hold is remembered as unknown for
/// <see cref="CloudOptions.UnknownDeviceTtl"/>, so forms flooding in under an unregistered id cost one database read.
/// Devices come in two ways, each certificate checked against KPU's CA before it is stored: the registry file
/// (<see cref="CloudOptions.RegistryPath"/>, as provisioning writes it), imported at start and again when it has changed
/// (its time looked at when a device is not in the cache, so devices provisioned into it while the cloud runs are served
/// at their first form, without a restart); and in-process provisioning (<see cref="RegisterCertifiedAsync(IReadOnlyList{KpuCertificate}, CancellationToken)"/>:
/// the simulator, tests). A device id never gets another certificate: such an offer is refused, never stored.
/// </summary>
public sealed class DeviceRegistryProvider
{
    /// <summary>Devices written per database transaction (and looked up per query while importing).</summary>
    public const int BatchSize = 10_000;

    private readonly IDeviceDirectory _directory;
    private readonly CloudOptions _options;
    private readonly TimeProvider _time;
    private readonly CloudPki _pki;
    private readonly ILogger<DeviceRegistryProvider> _logger;
    private readonly SemaphoreSlim _importLock = new(1, 1);
    private readonly Lock _importGate = new();
    private Task? _import;
    private DateTime _fileWrittenAt;

    public DeviceRegistryProvider(IDeviceDirectory directory, IOptions<CloudOptions> options, TimeProvider time, CloudPki pki, ILogger<DeviceRegistryProvider> logger)
    {
        _directory = directory;
        _options = options.Value;
        _time = time;
        _pki = pki;
        _logger = logger;
        Cache = new DeviceCache(_options.DeviceCacheCapacity, time);
    }

    /// <summary>This node's memory of the registry (<see cref="CloudOptions.DeviceCacheCapacity"/> devices, as many unknown ids).</summary>
    public DeviceCache Cache { get; }

    /// <summary>The registered device with this id, or null.</summary>
    public async ValueTask<DeviceRecord?> FindAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        if (Cache.TryGet(deviceId, out var device) && device is not null) return device;
        if (await ImportIfChangedAsync()) Cache.ForgetUnknown();
        if (Cache.TryGet(deviceId, out device)) return device;
        device = (await _directory.FindDevicesAsync([deviceId], cancellationToken)).FirstOrDefault();
        if (device is null) Cache.AddUnknown(deviceId, _options.UnknownDeviceTtl);
        else Cache.Add(device);
        return device;
    }

    /// <summary>
    /// Whether <paramref name="sender"/> (the authenticated publisher) may deliver what device <paramref name="signer"/>
    /// signed: the device itself, or a sender that is not a registered TPS device — a PPK station relaying for its
    /// kecamatan, to whose TPS topics the broker confines it. A TPS device delivering another device's form or photos
    /// is replaying what it has seen.
    /// </summary>
    public async ValueTask<bool> MayDeliverAsync(string sender, string signer) => sender == signer || await FindAsync(sender) is null;

    /// <summary>
    /// Registers devices from their signing certificates after checking each against KPU's CA (valid now, a TPS
    /// device's signing certificate), in transactions of <see cref="BatchSize"/>. Devices registered already with the
    /// same certificate are fine.
    /// </summary>
    /// <exception cref="InvalidDataException">A certificate the cloud must not trust, or a device registered with another certificate (nothing of that one is stored).</exception>
    public async Task<DeviceRegistration> RegisterCertifiedAsync(IReadOnlyList<KpuCertificate> signingCertificates, CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var verdicts = new CertificateVerdict[signingCertificates.Count];
        Parallel.For(0, verdicts.Length, i => verdicts[i] = _pki.Trust.Validate(signingCertificates[i].Der, CertificatePurpose.Signing, now, KpuRole.Tps));
        for (int i = 0; i < verdicts.Length; i++)
            if (!verdicts[i].Ok)
                throw new InvalidDataException($"Certificate of '{signingCertificates[i].CommonName}' refused: {verdicts[i].Error}: {verdicts[i].Detail}");
        var devices = signingCertificates.Select(DeviceRecord.FromCertificate).ToList();
        var registration = await StoreAsync(devices, cancellationToken);
        if (registration.Conflicts.Count > 0)
            throw new InvalidDataException($"Registration refused: {string.Join("; ", registration.Conflicts.Take(5).Select(c => c.Reason))}" +
                                           (registration.Conflicts.Count > 5 ? $" (and {registration.Conflicts.Count - 5} more)" : ""));
        return registration;
    }

    /// <summary>Registers one device from its signing certificate (see the batch overload) and keeps it in this node's cache.</summary>
    public async Task<DeviceRecord> RegisterCertifiedAsync(KpuCertificate signingCertificate, CancellationToken cancellationToken = default)
    {
        await RegisterCertifiedAsync([signingCertificate], cancellationToken);
        var device = DeviceRecord.FromCertificate(signingCertificate);
        Cache.Add(device);
        return device;
    }

    /// <summary>
    /// Imports the registry file if it changed since the last import (idempotent: what the registry holds already is
    /// neither checked nor written again). Every new entry must carry a signing certificate KPU's PKI vouches for, as
    /// <see cref="DeviceRegistry.Load(string, TrustStore, DateTimeOffset)"/> demands; an entry naming a registered device
    /// with another certificate is refused and logged, the rest imported.
    /// </summary>
    /// <exception cref="InvalidDataException">An entry the PKI does not vouch for (nothing of its batch is imported).</exception>
    public async Task<DeviceRegistration> ImportFileAsync(CancellationToken cancellationToken = default)
    {
        string path = _options.RegistryPath;
        await _importLock.WaitAsync(cancellationToken);
        try
        {
            if (!File.Exists(path)) return new DeviceRegistration(0, 0, []);
            var writtenAt = File.GetLastWriteTimeUtc(path);
            if (writtenAt == _fileWrittenAt) return new DeviceRegistration(0, 0, []);
            var entries = DeviceRegistry.Load(path).All.ToList();
            // Checking a certificate costs a signature verification: only entries the registry lacks (or holds otherwise) are checked.
            var fresh = new List<DeviceRecord>();
            foreach (var chunk in entries.Chunk(BatchSize))
            {
                var registered = (await _directory.FindDevicesAsync(chunk.Select(d => d.DeviceId).ToList(), cancellationToken))
                    .ToDictionary(d => d.DeviceId, StringComparer.Ordinal);
                fresh.AddRange(chunk.Where(d => !registered.TryGetValue(d.DeviceId, out var held) || !SameCertificate(held, d)));
            }
            var now = _time.GetUtcNow();
            var problems = new string?[fresh.Count];
            Parallel.For(0, fresh.Count, i => problems[i] = DeviceRegistry.Problem(fresh[i], _pki.Trust, now));
            for (int i = 0; i < problems.Length; i++)
                if (problems[i] is { } problem) throw new InvalidDataException($"{path}: device {fresh[i].DeviceId} {problem}.");
            var stored = await StoreAsync(fresh, cancellationToken);
            _fileWrittenAt = writtenAt;
            foreach (var conflict in stored.Conflicts.Take(20))
                _logger.LogError("Registry file {Path}: {Reason}", path, conflict.Reason);
            _logger.LogInformation("Registry file {Path} imported: {Added} devices added, {Held} registered already, {Refused} refused",
                path, stored.Added, entries.Count - stored.Added - stored.Conflicts.Count, stored.Conflicts.Count);
            return stored with { Held = entries.Count - stored.Added - stored.Conflicts.Count };
        }
        finally { _importLock.Release(); }
    }

    /// <summary>
    /// Imports the registry file if it was written since the last import (its time is one stat, cheap beside the database
    /// read a miss costs anyway). Lookups meeting an import under way wait for it: it may hold their device. True if an
    /// import ran.
    /// </summary>
    private async Task<bool> ImportIfChangedAsync()
    {
        Task import;
        lock (_importGate)
        {
            if (_import is null)
            {
                string path = _options.RegistryPath;
                if (!File.Exists(path) || File.GetLastWriteTimeUtc(path) == _fileWrittenAt) return false;
                // Never inline: its end clears _import under the gate.
                _import = Task.Run(ImportChangedFileAsync);
            }
            import = _import;
        }
        await import;
        return true;
    }

    private async Task ImportChangedFileAsync()
    {
        string path = _options.RegistryPath;
        try
        {
            await ImportFileAsync();
        }
        catch (Exception e) when (e is InvalidDataException or IOException or System.Text.Json.JsonException)
        {
            // Not again until it is written again: the operator has the reason.
            _fileWrittenAt = File.GetLastWriteTimeUtc(path);
            _logger.LogError("Registry file {Path} not imported: {Reason}", path, e.Message);
        }
        finally
        {
            lock (_importGate) _import = null;
        }
    }

    private async Task<DeviceRegistration> StoreAsync(IReadOnlyList<DeviceRecord> devices, CancellationToken cancellationToken)
    {
        int added = 0, held = 0;
        var conflicts = new List<DeviceConflict>();
        foreach (var chunk in devices.Chunk(BatchSize))
        {
            var registration = await _directory.RegisterDevicesAsync(chunk, cancellationToken);
            (added, held) = (added + registration.Added, held + registration.Held);
            conflicts.AddRange(registration.Conflicts);
            foreach (var device in chunk) Cache.ForgetUnknown(device.DeviceId);
        }
        return new DeviceRegistration(added, held, conflicts);
    }

    private static bool SameCertificate(DeviceRecord a, DeviceRecord b) =>
        a.SigningCertificate is { } x && b.SigningCertificate is { } y && x.Der.AsSpan().SequenceEqual(y.Der);
}
