using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Edge.Device;

/// <summary>
/// A folder as kpu-provision left it — keys and certificates, the KPU root, and the configuration bundle, opened only
/// after the bundle's signature, signer, expiry and addressee check out against that root. A TPS device
/// (<see cref="ProvisionedDevice"/>) and a PPK station (<see cref="Relay.ProvisionedStation"/>) are both such folders.
/// </summary>
public abstract class ProvisionedFolder
{
    protected ProvisionedFolder(DeviceCredentials credentials, DeviceConfig config)
    {
        Credentials = credentials;
        Config = config;
        LogKey = NoteVerifierKey.Parse(config.LogVerifierKey);
    }

    public DeviceCredentials Credentials { get; }
    public DeviceConfig Config { get; }
    /// <summary>What the cloud's receipts are checked with.</summary>
    public NoteVerifierKey LogKey { get; }

    /// <summary>The first broker of the bundle (mqtts://host:port): the cloud.</summary>
    public (string Host, int Port) Broker
    {
        get
        {
            var uri = new Uri(Config.Brokers.FirstOrDefault() ?? throw new InvalidDataException("Bundel konfigurasi tidak berisi alamat broker."));
            return (uri.Host, uri.Port > 0 ? uri.Port : 8883);
        }
    }

    /// <summary>How the folder's owner reaches a broker: TLS with its own certificate, receipts checked with the log key.</summary>
    public BrokerConnection Connection(string host, int port) => BrokerConnection.For(Credentials, host, port, LogKey);

    /// <summary>Loads the keys and certificates and opens the bundle, for an identity of <paramref name="role"/>.</summary>
    protected static (DeviceCredentials, DeviceConfig) Open(string directory, KpuRole role, TimeProvider time)
    {
        var credentials = DeviceCredentials.Load(directory);
        if (credentials.Identity.Role != role)
            throw new InvalidDataException($"'{credentials.DeviceId}' berperan {credentials.Identity.Role.ToText()}, bukan {role.ToText()}.");
        if (credentials.ConfigBundle is not { } bundle)
            throw new InvalidDataException($"Tidak ada bundel konfigurasi ({DeviceCredentials.ConfigBundleFile}); pasang dengan kpu-provision device install-config.");
        return (credentials, ConfigBundle.Open(bundle, credentials.CreateTrustStore(), credentials.Identity, time.GetUtcNow()));
    }
}
