using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.Simulator;
using KpuEdge.TestSupport;

namespace KpuEdge.Cloud.Tests;

/// <summary>A real cloud (Orleans silo, MQTTnet broker over TLS on loopback, SQLite ledger and log, HTTP API) in a temp directory.</summary>
public class CloudFixture : IAsyncLifetime
{
    public static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    public static readonly ElectionDefinition Election = ElectionDefinition.Default;
    public static readonly BallotCatalog Ballots = Election.Ballots(Tree);

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"kpu-test-{Guid.NewGuid():N}");
    public SimulationPki Pki { get; } = SimulationPki.Create(Election, seed: 7);
    public InProcessCloud Cloud { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cloud = await InProcessCloud.StartAsync(DataDirectory, Tree, CloudElection, pki: Pki, configure: Configure);
        Http = new HttpClient { BaseAddress = Cloud.ApiBase };
    }

    /// <summary>The election the cloud counts: <see cref="Election"/>, or the same election with more rules (a signing window).</summary>
    protected virtual ElectionDefinition CloudElection => Election;

    /// <summary>Chain gaps are reported at the first sweep: tests sweep when they want to see them.</summary>
    protected virtual void Configure(CloudOptions options)
    {
        options.ChainGapGrace = TimeSpan.Zero;
        // Every test client connects from 127.0.0.1: tests that expect each refusal reported see each one.
        options.BrokerLimits = options.BrokerLimits with { RefusalWindow = TimeSpan.Zero };
    }

    /// <summary>Stops the host and starts a new one on the same ledger, registry, PKI and broker port (running devices reconnect).</summary>
    public async Task RestartAsync()
    {
        int brokerPort = Cloud.BrokerPort;
        Http.Dispose();
        await Cloud.DisposeAsync();
        Cloud = await InProcessCloud.StartAsync(DataDirectory, Tree, CloudElection, pki: Pki, configure: options =>
        {
            Configure(options);
            options.BrokerPort = brokerPort;
        });
        Http = new HttpClient { BaseAddress = Cloud.ApiBase };
    }

    /// <summary>Restarts only the MQTT broker (same port, sessions lost); the rest of the host keeps running.</summary>
    public Task RestartBrokerAsync() => Cloud.RestartBrokerAsync();

    /// <summary>A provisioned TPS device (certificates from the fixture's CA), registered with the cloud unless told otherwise.</summary>
    public TestDevice NewDevice(TpsCode tps, bool register = true, TimeSpan? validity = null)
    {
        var credentials = Pki.Pki.IssueDevice($"dev-{tps}-{Guid.NewGuid():N}"[..30], KpuRole.Tps, tps.Value, DeviceKey.Generate(), validity);
        if (register) Cloud.Register(credentials);
        return new TestDevice(credentials, this);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Cloud.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); }
        catch (IOException) { /* a file still open on the way down: the temp directory is cleaned by the OS */ }
    }
}

/// <summary>A test's TPS device: real keys and certificates, a real chain of signed forms, a real TLS connection.</summary>
public sealed class TestDevice(DeviceCredentials credentials, CloudFixture fixture)
{
    public DeviceCredentials Credentials { get; } = credentials;
    public DeviceIdentity Identity { get; } = DeviceIdentity.From(credentials);
    public string DeviceId => Credentials.DeviceId;
    public TpsCode Tps => Identity.Tps;
    public FormSigner Signer { get; } = new(DeviceIdentity.From(credentials), CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System);

    /// <summary>The TPS's consistent synthetic tally of a contest.</summary>
    public C1Tally Tally(ContestId contest = ContestId.Ppwp, int seed = 7) =>
        SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, seed).Single(t => t.Contest == contest);

    /// <summary>Signs the next form of the device's chain.</summary>
    public SignedSubmission Next(ContestId contest = ContestId.Ppwp, int seed = 7) => Signer.Sign(Tally(contest, seed));

    /// <summary>Connected over TLS with this device's certificate; receipts verified against the log key unless told otherwise.</summary>
    public async Task<SubmissionClient> ConnectAsync(bool verifyReceipts = true)
    {
        var connection = fixture.Cloud.ConnectionFor(Credentials);
        var client = new SubmissionClient(DeviceId, verifyReceipts ? connection : connection with { LogKey = null });
        await client.ConnectAsync();
        return client;
    }
}
