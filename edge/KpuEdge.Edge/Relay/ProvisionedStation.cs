using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using KpuEdge.Edge.Device;

namespace KpuEdge.Edge.Relay;

/// <summary>
/// A PPK station's provisioned folder: the same as a TPS device's (keys, certificates, chain, configuration bundle)
/// for an identity of role <c>ppk</c>, whose assignment is the kecamatan it relays for.
/// </summary>
public sealed class ProvisionedStation : ProvisionedFolder
{
    private ProvisionedStation(DeviceCredentials credentials, DeviceConfig config) : base(credentials, config) =>
        Kecamatan = RegionCode.Parse(credentials.Identity.Assignment);

    public string Name => Credentials.DeviceId;

    /// <summary>The kecamatan whose TPS devices this station relays for.</summary>
    public RegionCode Kecamatan { get; }

    public static ProvisionedStation Load(string directory, TimeProvider time)
    {
        var (credentials, config) = Open(directory, KpuRole.Ppk, time);
        return new ProvisionedStation(credentials, config);
    }
}
