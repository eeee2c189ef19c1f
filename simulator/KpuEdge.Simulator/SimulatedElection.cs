using System.Collections.Concurrent;
using System.Diagnostics;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Simulator;

/// <summary>A simulated TPS device: real keys and certificates, a real chain, real MQTT over TLS; only the numbers are synthetic.</summary>
public sealed record SimulatedDevice(DeviceCredentials Credentials, IReadOnlyList<C1Tally> Tallies)
{
    public DeviceIdentity Identity { get; } = DeviceIdentity.From(Credentials);

    /// <summary>Hashes of the form photos a device read its numbers from, bound into what it signs.</summary>
    public IReadOnlyDictionary<ContestId, Sha256Hash> ImageHashes { get; init; } = new Dictionary<ContestId, Sha256Hash>();
}

/// <summary>What devices sent and what the cloud answered, kept by the simulator independently of the cloud.</summary>
public sealed class SimulationReport
{
    public int Devices { get; init; }
    public long FormsSent;
    public long Accepted;
    public long Duplicates;
    public long Failed;
    public ConcurrentDictionary<string, long> Rejected { get; } = new(StringComparer.Ordinal);
    /// <summary>Tallies the cloud receipted as accepted: the recap must equal exactly their sum.</summary>
    public ConcurrentBag<C1Tally> AcceptedTallies { get; } = [];
    public ConcurrentBag<double> LatenciesMs { get; } = [];
    public TimeSpan Elapsed { get; set; }

    public double FormsPerSecond => Elapsed.TotalSeconds > 0 ? FormsSent / Elapsed.TotalSeconds : 0;
    public long RejectedTotal => Rejected.Values.Sum();
}

/// <summary>
/// Where simulated devices send: a broker, or the brokers of a cluster's nodes (each device keeps to one, chosen by its
/// TPS code, so neighbouring TPS spread over the nodes), and the log key receipts are checked with.
/// </summary>
public sealed record SimulationTarget(IReadOnlyList<(string Host, int Port)> Brokers, NoteVerifierKey LogKey)
{
    public SimulationTarget(string brokerHost, int brokerPort, NoteVerifierKey logKey) : this([(brokerHost, brokerPort)], logKey) { }

    public string BrokerHost => Brokers[0].Host;
    public int BrokerPort => Brokers[0].Port;

    /// <summary>Which of <see cref="Brokers"/> a device sends to.</summary>
    public int BrokerIndexOf(SimulatedDevice device) => BrokerIndexOf(device.Identity.Tps);

    /// <summary>Which of <see cref="Brokers"/> the device of a TPS sends to.</summary>
    public int BrokerIndexOf(TpsCode tps) => (int)(long.Parse(tps.Value) % Brokers.Count);

    public BrokerConnection ConnectionFor(SimulatedDevice device)
    {
        var (host, port) = Brokers[BrokerIndexOf(device)];
        return BrokerConnection.For(device.Credentials, host, port, LogKey);
    }
}

/// <summary>Provisions simulated TPS devices from the real region tree and runs an election day through them.</summary>
public sealed class SimulatedElection(RegionTree tree, ElectionDefinition election, int seed)
{
    private readonly BallotCatalog _ballots = election.Ballots(tree);

    /// <summary>
    /// Picks <paramref name="count"/> real TPS spread over the given provinces (or, by default, several provinces
    /// in different regions and time zones), deterministically for a seed.
    /// </summary>
    public IReadOnlyList<TpsCode> PickTps(int count, IReadOnlyList<string> provinces)
    {
        var chosen = provinces.Count > 0
            ? provinces.Select(RegionCode.Parse).ToArray()
            : new[] { "11", "32", "31", "35", "51", "64", "73", "81", "94" }.Select(RegionCode.Parse).ToArray();
        foreach (var p in chosen)
        {
            if (p.Level != RegionLevel.Provinsi || !tree.TryGet(p, out _))
                throw new ArgumentException($"{p} is not a province code.");
        }
        var random = new Random(seed);
        var perProvince = chosen.Select(p => tree.TpsIn(p).ToArray()).ToArray();
        int available = perProvince.Sum(a => a.Length);
        if (count > available) throw new ArgumentException($"Only {available} TPS in the chosen provinces.");
        // Round-robin over provinces, a random TPS each time, so every province is represented.
        var picked = new HashSet<TpsCode>();
        for (int i = 0; picked.Count < count; i++)
        {
            var pool = perProvince[i % perProvince.Length];
            if (pool.Length == 0) continue;
            picked.Add(pool[random.Next(pool.Length)]);
        }
        return picked.Order().ToArray();
    }

    /// <summary>One device per TPS, with its signing and TLS certificates issued by <paramref name="pki"/>.</summary>
    public IReadOnlyList<SimulatedDevice> Provision(IEnumerable<TpsCode> tpsCodes, EphemeralPki pki) =>
        Provision(tpsCodes.Select(tps => (tps, SyntheticTally.ForTps(tps, _ballots, election, seed))), pki);

    /// <summary>One device per TPS that will sign the given tallies (its forms, in this order), with certificates issued by <paramref name="pki"/>.</summary>
    public IReadOnlyList<SimulatedDevice> Provision(IEnumerable<(TpsCode Tps, IReadOnlyList<C1Tally> Tallies)> forms, EphemeralPki pki) =>
        forms.AsParallel().AsOrdered().Select(tps =>
        {
            var credentials = pki.IssueDevice($"dev-{tps.Tps}", KpuRole.Tps, tps.Tps.Value, DeviceKey.Deterministic(tps.Tps.Value, seed));
            return new SimulatedDevice(credentials, tps.Tallies);
        }).ToArray();

    /// <summary>
    /// Every device connects, signs and sends each of its forms, waits for the receipts, and disconnects;
    /// <paramref name="concurrency"/> devices at a time. A run in batches passes one <paramref name="report"/> to each
    /// batch: the counts and the elapsed sending time add up.
    /// </summary>
    public async Task<SimulationReport> RunAsync(
        IReadOnlyList<SimulatedDevice> devices, SimulationTarget target, int concurrency,
        Action<int>? onFormsDone = null, CancellationToken cancellationToken = default, SimulationReport? report = null)
    {
        report ??= new SimulationReport { Devices = devices.Count };
        var stopwatch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(devices, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (device, ct) =>
            {
                var signer = new FormSigner(device.Identity, election, _ballots, TimeProvider.System);
                var signed = device.Tallies.Select(t => (Tally: t, Signed: signer.Sign(t, device.ImageHashes.GetValueOrDefault(t.Contest)))).ToArray();
                try
                {
                    await using var client = new SubmissionClient(device.Identity.DeviceId, target.ConnectionFor(device));
                    await client.ConnectAsync(ct);
                    await Task.WhenAll(signed.Select(async form =>
                    {
                        var started = Stopwatch.GetTimestamp();
                        Interlocked.Increment(ref report.FormsSent);
                        var receipt = await client.SubmitAsync(form.Signed, TimeSpan.FromSeconds(30), attempts: 3, ct);
                        report.LatenciesMs.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        Record(report, receipt, form.Tally);
                    }));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Interlocked.Add(ref report.Failed, signed.Length);
                }
                onFormsDone?.Invoke(signed.Length);
            });
        report.Elapsed += stopwatch.Elapsed;
        return report;
    }

    private static void Record(SimulationReport report, Receipt receipt, C1Tally tally)
    {
        switch (receipt.Status)
        {
            case ReceiptStatus.Accepted:
                Interlocked.Increment(ref report.Accepted);
                report.AcceptedTallies.Add(tally);
                break;
            case ReceiptStatus.Duplicate:
                // A resend whose first receipt was lost: the form is recorded once, and counted.
                Interlocked.Increment(ref report.Duplicates);
                report.AcceptedTallies.Add(tally);
                break;
            default:
                report.Rejected.AddOrUpdate(receipt.Reason ?? "unknown", 1, (_, n) => n + 1);
                break;
        }
    }
}
