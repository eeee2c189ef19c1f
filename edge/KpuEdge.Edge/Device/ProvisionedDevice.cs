using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;

namespace KpuEdge.Edge.Device;

/// <summary>A TPS device's provisioned folder, with the identity it signs forms as.</summary>
public sealed class ProvisionedDevice : ProvisionedFolder
{
    private ProvisionedDevice(DeviceCredentials credentials, DeviceConfig config) : base(credentials, config) =>
        Identity = DeviceIdentity.From(credentials);

    public DeviceIdentity Identity { get; }

    public static ProvisionedDevice Load(string directory, TimeProvider time)
    {
        var (credentials, config) = Open(directory, KpuRole.Tps, time);
        return new ProvisionedDevice(credentials, config);
    }
}
