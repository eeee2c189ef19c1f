using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Edge.Device;

/// <summary>
/// A device as kpu-provision left it: its keys and certificates, and its configuration bundle — opened only after
/// the bundle's signature, signer, expiry and addressee check out against the KPU root in the device's folder.
/// </summary>
public sealed class ProvisionedDevice
{
    private ProvisionedDevice(DeviceCredentials credentials, DeviceConfig config)
    {
        Credentials = credentials;
        Config = config;
        Identity = DeviceIdentity.From(credentials);
        LogKey = NoteVerifierKey.Parse(config.LogVerifierKey);
    }

    public DeviceCredentials Credentials { get; }
    public DeviceConfig Config { get; }
    public DeviceIdentity Identity { get; }
    public NoteVerifierKey LogKey { get; }

    /// <summary>The first broker of the bundle (mqtts://host:port).</summary>
    public (string Host, int Port) Broker
    {
        get
        {
            var uri = new Uri(Config.Brokers.FirstOrDefault() ?? throw new InvalidDataException("Bundel konfigurasi tidak berisi alamat broker."));
            return (uri.Host, uri.Port > 0 ? uri.Port : 8883);
        }
    }

    public BrokerConnection Connection(string host, int port) => BrokerConnection.For(Credentials, host, port, LogKey);

    public static ProvisionedDevice Load(string directory, TimeProvider time)
    {
        var credentials = DeviceCredentials.Load(directory);
        if (credentials.ConfigBundle is not { } bundle)
            throw new InvalidDataException($"Tidak ada bundel konfigurasi ({DeviceCredentials.ConfigBundleFile}); pasang dengan kpu-provision device install-config.");
        var config = ConfigBundle.Open(bundle, credentials.CreateTrustStore(), credentials.Identity, time.GetUtcNow());
        return new ProvisionedDevice(credentials, config);
    }
}
