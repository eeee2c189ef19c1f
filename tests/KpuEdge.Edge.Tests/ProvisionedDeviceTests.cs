using System.Buffers.Text;
using System.Text;
using System.Text.Json.Nodes;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Edge.Tests;

/// <summary>
/// A device folder as kpu-provision leaves it: the device opens its configuration bundle only when a KPU config signer
/// signed it, for this device, and it has not expired — checked against the root in the folder, at the device's time.
/// </summary>
public sealed class ProvisionedDeviceTests : IDisposable
{
    private const string ElectionId = "pemilu-2024";
    private const string DeviceId = "dev-3273011001003";
    private const string Tps = "3273011001003";

    /// <summary>When the PKI issued the certificates and KPU signed the bundle; the device's clock is set from it.</summary>
    private static readonly DateTimeOffset Now = new(2024, 2, 1, 8, 0, 0, TimeSpan.Zero);

    private static readonly EphemeralPki Pki = EphemeralPki.Create(ElectionId, Now, 2024);
    private static readonly (DeviceKey Key, KpuCertificate Certificate) ConfigSigner = Pki.IssueSigner("kpu-config", KpuRole.Config);
    private static readonly string LogOrigin = Checkpoint.DefaultOrigin(ElectionId);
    private static readonly DeviceKey LogKey = DeviceKey.Deterministic("transparency-log", 2024);

    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"kpu-device-{Guid.NewGuid():N}");

    public ProvisionedDeviceTests() => Pki.IssueDevice(DeviceId, KpuRole.Tps, Tps).Save(_directory);

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private static DeviceConfig Config(string deviceId = DeviceId, string assignment = Tps) => new()
    {
        DeviceId = deviceId,
        Role = KpuRole.Tps,
        Assignment = assignment,
        ElectionId = ElectionId,
        Brokers = ["mqtts://127.0.0.1:8883"],
        CaCertificates = [Pki.Root.Certificate.ToPem(), Pki.Issuing.Certificate.ToPem()],
        LogVerifierKey = NoteVerifierKey.Create(LogOrigin, LogKey).ToString(),
        Telemetry = new TelemetrySettings { Interval = TimeSpan.FromMinutes(5), Topic = $"kpu/v1/device/{deviceId}/telemetry" },
        IssuedAt = Now,
        ExpiresAt = Now.AddDays(30),
    };

    private void Install(string bundle) => File.WriteAllText(Path.Combine(_directory, DeviceCredentials.ConfigBundleFile), bundle);

    private void Install(DeviceConfig config, (DeviceKey Key, KpuCertificate Certificate)? signer = null)
    {
        var (key, certificate) = signer ?? ConfigSigner;
        Install(ConfigBundle.Sign(config, key, certificate));
    }

    private ProvisionedDevice Load(DateTimeOffset? at = null) => ProvisionedDevice.Load(_directory, new FixedTime(at ?? Now));

    private ConfigBundleException Refused(DateTimeOffset? at = null) => Assert.Throws<ConfigBundleException>(() => Load(at));

    [Fact]
    public void Opens_a_bundle_signed_by_KPU_for_this_device_and_exposes_broker_identity_and_log_key()
    {
        Install(Config());

        var device = Load();

        Assert.Equal(("127.0.0.1", 8883), device.Broker);
        Assert.Equal(DeviceId, device.Identity.DeviceId);
        Assert.Equal(TpsCode.Parse(Tps), device.Identity.Tps);
        Assert.Equal(DeviceKey.Deterministic(DeviceId, Pki.Seed).PublicKey.Encoded, device.Identity.Key.PublicKey.Encoded);
        Assert.Equal(NoteVerifierKey.Create(LogOrigin, LogKey).ToString(), device.LogKey.ToString());
        Assert.Equal(LogOrigin, device.LogKey.Name);
        Assert.Equal(DeviceId, device.Config.DeviceId);
        Assert.Equal(DeviceId, device.Credentials.DeviceId);
    }

    [Fact]
    public void Opens_the_bundle_at_any_time_within_its_validity_and_the_clock_skew()
    {
        Install(Config());

        Assert.Equal(DeviceId, Load(Now - ConfigBundle.ClockSkew).Identity.DeviceId);
        Assert.Equal(DeviceId, Load(Now.AddDays(30).AddTicks(-1)).Identity.DeviceId);
    }

    [Fact]
    public void Believes_receipts_of_the_log_named_in_its_bundle()
    {
        Install(Config());
        var device = Load();
        var tree = new MerkleTree();
        byte[] wire = [0xa1, 0x01, 0x02];
        tree.Append(LogEntry.EncodeSubmission([0xa1, 0x00]));
        tree.Append(LogEntry.EncodeSubmission(wire));
        var receipt = new Receipt
        {
            Status = ReceiptStatus.Accepted,
            SubmissionHash = "",
            LogIndex = 1,
            Checkpoint = new CheckpointSigner(LogKey, LogOrigin).Sign(tree, tree.Size),
            InclusionProof = tree.InclusionProof(1, tree.Size).Select(Convert.ToBase64String).ToArray(),
            Ts = Now,
        };

        Assert.True(ReceiptVerifier.Verify(receipt, wire, device.LogKey).Ok);
        var forged = receipt with { Checkpoint = new CheckpointSigner(DeviceKey.Deterministic("impostor-log", 2024), LogOrigin).Sign(tree, tree.Size) };
        Assert.Equal(LogErrors.BadCheckpointSignature, ReceiptVerifier.Verify(forged, wire, device.LogKey).Error);
    }

    [Fact]
    public void Takes_the_first_broker_of_the_bundle()
    {
        Install(Config() with { Brokers = ["mqtts://broker-1.kpu.go.id:18883", "mqtts://127.0.0.1:8883"] });

        Assert.Equal(("broker-1.kpu.go.id", 18883), Load().Broker);
    }

    [Fact]
    public void Refuses_to_start_without_a_bundle()
    {
        var e = Assert.Throws<InvalidDataException>(() => Load());

        Assert.Contains(DeviceCredentials.ConfigBundleFile, e.Message);
    }

    [Fact]
    public void Refuses_a_bundle_for_another_device()
    {
        Install(Config(deviceId: "dev-3273011001004", assignment: "3273011001004"));

        var e = Refused();

        Assert.Equal(ConfigBundleErrors.WrongDevice, e.Error);
        Assert.Contains("dev-3273011001004", e.Message);
    }

    [Fact]
    public void Refuses_a_bundle_signed_by_a_config_signer_of_another_PKI()
    {
        var otherPki = EphemeralPki.Create(ElectionId, Now, 666);
        Install(Config(), otherPki.IssueSigner("kpu-config", KpuRole.Config));

        Assert.Equal(ConfigBundleErrors.UntrustedSigner, Refused().Error);
    }

    [Fact]
    public void Refuses_a_bundle_signed_by_a_KPU_key_that_is_not_a_config_signer()
    {
        Install(Config(), Pki.IssueSigner("kpu-log", KpuRole.Log));

        Assert.Equal(ConfigBundleErrors.UntrustedSigner, Refused().Error);
    }

    [Fact]
    public void Refuses_a_bundle_whose_payload_was_changed_after_signing()
    {
        string bundle = ConfigBundle.Sign(Config(), ConfigSigner.Key, ConfigSigner.Certificate);
        var json = JsonNode.Parse(bundle)!.AsObject();
        string payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars((string)json["payload"]!));
        string redirected = payload.Replace("mqtts://127.0.0.1:8883", "mqtts://203.0.113.66:8883", StringComparison.Ordinal);
        Assert.NotEqual(payload, redirected);
        json["payload"] = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(redirected));
        Install(json.ToJsonString());

        Assert.Equal(ConfigBundleErrors.Tampered, Refused().Error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(24 * 60)]
    public void Refuses_a_bundle_that_has_expired(int minutesAfterExpiry)
    {
        var config = Config();
        Install(config);

        var e = Refused(config.ExpiresAt.AddMinutes(minutesAfterExpiry));

        Assert.Equal(ConfigBundleErrors.Expired, e.Error);
    }

    [Fact]
    public void Refuses_a_bundle_issued_later_than_the_clock_skew_allows()
    {
        Install(Config());

        Assert.Equal(ConfigBundleErrors.NotYetValid, Refused(Now - ConfigBundle.ClockSkew - TimeSpan.FromSeconds(1)).Error);
    }
}
