using KpuEdge.Cloud.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ingest;

/// <summary>
/// The device registry the ingest checks against. Devices provisioned while the cloud runs appear without a
/// restart: an unknown device makes it re-read the registry file if the file changed (at most once a second).
/// </summary>
public sealed class DeviceRegistryProvider
{
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly Lock _reloadLock = new();
    private DateTime _fileWrittenAt;
    private DateTimeOffset _lastCheck;

    private readonly CloudPki _pki;

    public DeviceRegistryProvider(IOptions<CloudOptions> options, TimeProvider time, CloudPki pki, DeviceRegistry? registry = null)
    {
        _path = options.Value.RegistryPath;
        _time = time;
        _pki = pki;
        Registry = registry ?? new DeviceRegistry();
        Reload();
    }

    /// <summary>The live registry; in-process provisioning (the simulator) registers devices here directly.</summary>
    public DeviceRegistry Registry { get; }

    public bool TryGet(string deviceId, out DeviceRecord device)
    {
        if (Registry.TryGet(deviceId, out device)) return true;
        var now = _time.GetUtcNow();
        lock (_reloadLock)
        {
            if (now - _lastCheck < TimeSpan.FromSeconds(1)) return false;
            _lastCheck = now;
            Reload();
        }
        return Registry.TryGet(deviceId, out device);
    }

    /// <summary>
    /// Whether <paramref name="sender"/> (the authenticated publisher) may deliver what device <paramref name="signer"/>
    /// signed: the device itself, or a sender that is not a registered TPS device — a PPK station relaying for its
    /// kecamatan, to whose TPS topics the broker confines it. A TPS device delivering another device's form or photos
    /// is replaying what it has seen.
    /// </summary>
    public bool MayDeliver(string sender, string signer) => sender == signer || !TryGet(sender, out _);

    private void Reload()
    {
        if (!File.Exists(_path)) return;
        var writtenAt = File.GetLastWriteTimeUtc(_path);
        if (writtenAt == _fileWrittenAt) return;
        _fileWrittenAt = writtenAt;
        foreach (var device in DeviceRegistry.Load(_path, _pki.Trust, _time.GetUtcNow()).All) Registry.Register(device);
    }

    /// <summary>
    /// Registers a device from its signing certificate after checking it against KPU's CA (in-process provisioning:
    /// the simulator, tests). Throws <see cref="InvalidDataException"/> for a certificate the cloud must not trust.
    /// </summary>
    public DeviceRecord RegisterCertified(KpuCertificate signingCertificate)
    {
        var verdict = _pki.Trust.Validate(signingCertificate.Der, CertificatePurpose.Signing, _time.GetUtcNow(), KpuRole.Tps);
        if (!verdict.Ok)
            throw new InvalidDataException($"Certificate of '{signingCertificate.CommonName}' refused: {verdict.Error}: {verdict.Detail}");
        var record = DeviceRecord.FromCertificate(signingCertificate);
        Registry.Register(record);
        return record;
    }
}
