using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Edge.Relay;

/// <summary>
/// A PPK station as kpu-provision left it: the same folder as a TPS device's (keys, certificates, chain, configuration
/// bundle) for an identity of role <c>ppk</c>, opened only after the bundle checks out against the KPU root in the
/// folder. (<see cref="Device.ProvisionedDevice"/> is for TPS devices: it derives the TPS a device signs for, which a
/// station does not have.)
/// </summary>
public sealed class ProvisionedStation
{
    private ProvisionedStation(DeviceCredentials credentials, DeviceConfig config)
    {
        Credentials = credentials;
        Config = config;
        Kecamatan = RegionCode.Parse(credentials.Identity.Assignment);
        LogKey = NoteVerifierKey.Parse(config.LogVerifierKey);
    }

    public DeviceCredentials Credentials { get; }
    public DeviceConfig Config { get; }
    public string Name => Credentials.DeviceId;
    /// <summary>The kecamatan whose TPS devices this station relays for.</summary>
    public RegionCode Kecamatan { get; }
    /// <summary>What the station checks the cloud's receipts with before it passes them on.</summary>
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

    /// <summary>How the station reaches the cloud: TLS with its own certificate, receipts checked with the log key.</summary>
    public BrokerConnection Connection(string host, int port) => BrokerConnection.For(Credentials, host, port, LogKey);

    public static ProvisionedStation Load(string directory, TimeProvider time)
    {
        var credentials = DeviceCredentials.Load(directory);
        if (credentials.Identity.Role != KpuRole.Ppk)
            throw new InvalidDataException($"'{credentials.DeviceId}' bukan stasiun PPK (peran {credentials.Identity.Role.ToText()}).");
        if (credentials.ConfigBundle is not { } bundle)
            throw new InvalidDataException($"Tidak ada bundel konfigurasi ({DeviceCredentials.ConfigBundleFile}); pasang dengan kpu-provision device install-config.");
        var config = ConfigBundle.Open(bundle, credentials.CreateTrustStore(), credentials.Identity, time.GetUtcNow());
        return new ProvisionedStation(credentials, config);
    }
}
