using System.Buffers;
using System.Diagnostics;
using KpuEdge.Cloud;
using KpuEdge.Cloud.Broker;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Cloud.Security;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Transport;
using KpuEdge.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using Orleans;

namespace KpuEdge.Simulator;

/// <summary>How many things a measured loop did, in what wall time, for how much of the process's CPU (all its threads).</summary>
public readonly record struct Measured(long Count, TimeSpan Wall, TimeSpan Cpu)
{
    public double PerSecond => Count / Wall.TotalSeconds;
    public double CpuMicrosEach => Cpu.TotalMicroseconds / Count;

    /// <summary>What <paramref name="cores"/> could do if this were all they did.</summary>
    public double CpuBoundPerSecond(int cores) => cores * 1e6 / CpuMicrosEach;

    public static Measured operator +(Measured a, Measured b) => new(a.Count + b.Count, a.Wall + b.Wall, a.Cpu + b.Cpu);

    /// <summary>Starts measuring: the clock and the process's CPU time now.</summary>
    public static Meter Start() => new(Stopwatch.GetTimestamp(), Environment.CpuUsage.TotalTime);

    public readonly record struct Meter(long Started, TimeSpan CpuAtStart)
    {
        public Measured Stop(long count) => new(count, Stopwatch.GetElapsedTime(Started), Environment.CpuUsage.TotalTime - CpuAtStart);
    }
}

/// <summary>A real signed form as the stages bench sends it: through its kecamatan's PPK station, on the station's topic.</summary>
public sealed record BenchForm(SignedSubmission Signed, ContestTotals Totals, string Station, string Topic);

/// <summary>One ledger run: a backend at one group-commit size.</summary>
/// <param name="ServerCpu">The database server's own CPU (PostgreSQL's processes); null for SQLite, which runs in the node.</param>
public sealed record LedgerRow(string Backend, int Batch, Measured Forms, long Commits, TimeSpan? ServerCpu)
{
    public double CommitsPerSecond => Commits / Forms.Wall.TotalSeconds;
    public double FormsPerCommit => Forms.Count / (double)Commits;
    public double? ServerMicrosEach => ServerCpu?.TotalMicroseconds / Forms.Count;
}

/// <summary>The transparency log's serial parts: the node's tree, proofs for receipts, and the cluster's one checkpoint signer.</summary>
public sealed record LogFigures(Measured Appends, Measured Proofs, Measured Signed, Measured Verified);

/// <summary>
/// Each stage of the cloud's path for one form, measured on its own with the real component the cloud runs (the ledger
/// classes, the transparency log, the broker, the grains in a silo), over real forms, after a warm-up round so that the
/// JIT's tiering has settled. Every probe fails loudly if its stage does not do its job (a form refused, not accepted,
/// not delivered): a broken stage cannot pass for a fast one.
/// </summary>
public static class StageProbes
{
    /// <summary>Lets tier-1 compilation of what the warm-up ran finish in the background before the measured round.</summary>
    private static Task SettleJitAsync(CancellationToken ct) => Task.Delay(TimeSpan.FromMilliseconds(500), ct);

    /// <summary>Calls that warm a one-thread loop up: enough for tier-1 code of everything it runs.</summary>
    private const int WarmCalls = 2_000;

    private static Measured Loop(IReadOnlyList<BenchForm> forms, Action<BenchForm> each)
    {
        var meter = Measured.Start();
        foreach (var form in forms) each(form);
        return meter.Stop(forms.Count);
    }

    /// <summary>
    /// Decode + signature verification (with the device's registry lookup), the whole <see cref="SubmissionChecker.CheckAsync"/>,
    /// and <see cref="C1Validator"/> alone; one thread. Each is warmed up (at least <see cref="WarmCalls"/> calls), then
    /// the three take turns over chunks of the forms, so that a change in the shared machine's load falls on them alike.
    /// </summary>
    public static async Task<(Measured DecodeVerify, Measured Check, Measured Validator)> ChecksAsync(
        SubmissionChecker checker, DeviceRegistryProvider devices, RecapContext context, IReadOnlyList<BenchForm> warm, IReadOnlyList<BenchForm> forms, CancellationToken ct)
    {
        Action<BenchForm>[] stages =
        [
            f =>
            {
                var signed = SignedSubmission.Decode(f.Signed.Wire);
                // A device the node has cached: the lookup completes at once, as it does for a device sending its forms.
                if (devices.FindAsync(signed.Submission.DeviceId).AsTask().GetAwaiter().GetResult() is not { } device || !signed.VerifySignature(device.PublicKey))
                    throw new InvalidOperationException($"The signature of {signed.Hash} does not verify.");
            },
            f =>
            {
                if (checker.CheckAsync(f.Topic, f.Signed.Wire).GetAwaiter().GetResult() is Refused refused)
                    throw new InvalidOperationException($"The checker refused {refused.Hash}: {refused.Reason} ({refused.Detail}).");
            },
            f =>
            {
                var s = f.Signed.Submission;
                if (C1Validator.Validate(s.Tally, context.Ballots.For(s.Contest, s.Tps)).Count > 0)
                    throw new InvalidOperationException($"The rules refused {f.Signed.Hash}.");
            },
        ];
        foreach (var stage in stages)
            for (int calls = 0; calls < WarmCalls; calls += warm.Count) Loop(warm, stage);
        await SettleJitAsync(ct);
        var measured = new Measured[stages.Length];
        foreach (var chunk in forms.Chunk(500))
            for (int i = 0; i < stages.Length; i++) measured[i] += Loop(chunk, stages[i]);
        return (measured[0], measured[1], measured[2]);
    }

    /// <summary>The cloud's broker alone (no ingest, no silo): the <see cref="EmbeddedBroker"/> as the cloud host builds it.</summary>
    public sealed class Broker : IAsyncDisposable
    {
        private readonly EmbeddedBroker _broker;
        private readonly SqliteLedger _events;

        private Broker(EmbeddedBroker broker, SqliteLedger events, int port) => (_broker, _events, Port) = (broker, events, port);

        public string Host => "127.0.0.1";
        public int Port { get; }

        /// <summary>Starts it on a free loopback port with the cloud's default bounds; its security events go to a ledger in <paramref name="dataDirectory"/>.</summary>
        public static async Task<Broker> StartAsync(CloudPki pki, string dataDirectory, CancellationToken ct)
        {
            int port = TestSupport.LocalServices.FreePorts.OnLoopback();
            var events = new SqliteLedger(Path.Combine(dataDirectory, "broker-events.db"));
            var broker = new EmbeddedBroker(Options.Create(new CloudOptions { BrokerPort = port }), new BrokerEndpoint("127.0.0.1", port), pki,
                new SecurityEventRecorder(events, NullLogger<SecurityEventRecorder>.Instance), TimeProvider.System, NullLogger<EmbeddedBroker>.Instance);
            await broker.StartAsync(ct);
            return new Broker(broker, events, port);
        }

        public async ValueTask DisposeAsync()
        {
            await _broker.StopAsync(CancellationToken.None);
            _broker.Dispose();
            await _events.DisposeAsync();
        }
    }

    /// <summary>Counts arrivals of one round and completes when all have come.</summary>
    private sealed class Arrivals
    {
        private long _left;
        private TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task All => _all.Task;

        public void Expect(long count)
        {
            _all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Interlocked.Exchange(ref _left, count);
        }

        public void Arrived()
        {
            if (Interlocked.Decrement(ref _left) == 0) _all.TrySetResult();
        }
    }

    /// <summary>
    /// MQTT as the forms travel it: PPK stations connected over mutual TLS publish each form at QoS 1 (their PUBACK
    /// awaited, a window in flight) to the broker, which delivers it to the ingest's subscription (its certificate, manual
    /// acknowledgement as the ingest does). Measured twice: forms in only; then forms in and a receipt of a national-sized
    /// log (checkpoint and 22 proof hashes) published back at QoS 1 to each station, which parses it.
    /// </summary>
    public static async Task<(Measured FormsIn, Measured WithReceipts)> MqttAsync(
        Broker broker, CloudPki cloud, IReadOnlyList<DeviceCredentials> stations, IReadOnlyList<BenchForm> warm, IReadOnlyList<BenchForm> forms, CancellationToken ct)
    {
        var time = TimeProvider.System;
        var factory = new MqttClientFactory();
        var arrivals = new Arrivals();
        bool answering = false;
        var template = NationalReceipt(cloud);

        using var ingest = factory.CreateMqttClient();
        ingest.ApplicationMessageReceivedAsync += e =>
        {
            e.AutoAcknowledge = false;
            if (!Volatile.Read(ref answering))
            {
                arrivals.Arrived();
                return e.AcknowledgeAsync(ct);
            }
            // Answered off the receiving loop, as the ingest's workers do; acknowledged once answered.
            _ = AnswerAsync(e);
            return Task.CompletedTask;
        };
        async Task AnswerAsync(MqttApplicationMessageReceivedEventArgs e)
        {
            var m = e.ApplicationMessage;
            Topics.TryParseSubmission(m.Topic, out var address);
            var receipt = template with
            {
                SubmissionHash = Convert.ToHexStringLower(m.CorrelationData), Tps = address.Tps.Value, Contest = address.Contest.Slug(), Ts = time.GetUtcNow(),
            };
            await ingest.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topics.Receipt(address.Sender)).WithPayload(receipt.ToUtf8())
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithCorrelationData(m.CorrelationData).Build(), ct);
            await e.AcknowledgeAsync(ct);
        }
        var ingestConnection = new BrokerConnection(broker.Host, broker.Port, cloud.IngestCertificate, cloud.Trust, null);
        await ingest.ConnectAsync(ingestConnection.ClientOptions(KpuTls.NameOf(cloud.IngestCertificate), time).WithCleanStart().Build(), ct);
        await ingest.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(Topics.AllSubmissions).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build(), ct);

        var clients = new Dictionary<string, IMqttClient>(StringComparer.Ordinal);
        try
        {
            foreach (var station in stations)
            {
                var client = factory.CreateMqttClient();
                clients[station.DeviceId] = client;
                client.ApplicationMessageReceivedAsync += e =>
                {
                    if (Receipt.TryParse(e.ApplicationMessage.Payload.ToArray()) is null) throw new InvalidDataException("A receipt that does not parse.");
                    arrivals.Arrived();
                    return Task.CompletedTask;
                };
                await client.ConnectAsync(BrokerConnection.For(station, broker.Host, broker.Port, null).ClientOptions(station.DeviceId, time)
                    .WithCleanStart().WithKeepAlivePeriod(TimeSpan.FromSeconds(30)).Build(), ct);
                await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                    .WithTopicFilter(f => f.WithTopic(Topics.Receipt(station.DeviceId)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build(), ct);
            }
            int window = Math.Max(8, 1024 / Math.Max(1, stations.Count));

            async Task<Measured> RoundAsync(IReadOnlyList<BenchForm> round, bool receipts)
            {
                Volatile.Write(ref answering, receipts);
                arrivals.Expect(round.Count);
                var meter = Measured.Start();
                await Task.WhenAll(round.GroupBy(f => f.Station).Select(async station =>
                {
                    var client = clients[station.Key];
                    using var inFlight = new SemaphoreSlim(window);
                    await Task.WhenAll(station.Select(async f =>
                    {
                        await inFlight.WaitAsync(ct);
                        try
                        {
                            var published = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(f.Topic).WithPayload(f.Signed.Wire)
                                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithCorrelationData(f.Signed.Hash.ToArray()).Build(), ct);
                            if (published.ReasonCode != MqttClientPublishReasonCode.Success)
                                throw new InvalidOperationException($"The broker answered {published.ReasonCode} to {station.Key}'s publish.");
                        }
                        finally { inFlight.Release(); }
                    }));
                }));
                await arrivals.All.WaitAsync(TimeSpan.FromMinutes(2), ct);
                return meter.Stop(round.Count);
            }

            await RoundAsync(warm, receipts: false);
            await SettleJitAsync(ct);
            var formsIn = await RoundAsync(forms, receipts: false);
            await RoundAsync(warm, receipts: true);
            await SettleJitAsync(ct);
            var withReceipts = await RoundAsync(forms, receipts: true);
            return (formsIn, withReceipts);
        }
        finally
        {
            foreach (var client in clients.Values)
            {
                if (client.IsConnected) await client.DisconnectAsync(cancellationToken: CancellationToken.None);
                client.Dispose();
            }
            await ingest.DisconnectAsync(cancellationToken: CancellationToken.None);
        }
    }

    /// <summary>A receipt as the ingest sends it for a form in a log of a national election's size.</summary>
    private static Receipt NationalReceipt(CloudPki cloud)
    {
        var root = new byte[32];
        var note = new CheckpointSigner(cloud.LogKey.Key, cloud.LogKey.Origin).Sign(TrustBench.NationalEntries, root);
        return new Receipt
        {
            Status = ReceiptStatus.Accepted, SubmissionHash = "", LedgerPosition = TrustBench.NationalEntries, LogIndex = TrustBench.NationalEntries - 1,
            Checkpoint = note, InclusionProof = Enumerable.Range(0, 22).Select(i => Convert.ToBase64String(MerkleTree.LeafHash([(byte)i]))).ToArray(),
            Sequence = 1, Ts = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>
    /// New device connections: a TPS device's P-256 TLS certificate from KPU's CA, mutual TLS with KPU's checks at both
    /// ends, CONNECT, CONNACK, DISCONNECT — every connection a device never seen before (nothing to resume),
    /// <paramref name="concurrency"/> at a time.
    /// </summary>
    public static async Task<Measured> HandshakesAsync(Broker broker, IReadOnlyList<DeviceCredentials> warm, IReadOnlyList<DeviceCredentials> devices, int concurrency, CancellationToken ct)
    {
        var factory = new MqttClientFactory();
        async Task<Measured> RoundAsync(IReadOnlyList<DeviceCredentials> round)
        {
            // The device's side of preparing (its certificate with its key) is done before it dials.
            var options = round.Select(d => BrokerConnection.For(d, broker.Host, broker.Port, null).ClientOptions(d.DeviceId, TimeProvider.System).WithCleanStart().Build()).ToArray();
            var meter = Measured.Start();
            await Parallel.ForEachAsync(options, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct }, async (o, token) =>
            {
                using var client = factory.CreateMqttClient();
                var connected = await client.ConnectAsync(o, token);
                if (connected.ResultCode != MqttClientConnectResultCode.Success)
                    throw new InvalidOperationException($"The broker refused {o.ClientId}: {connected.ResultCode}.");
                await client.DisconnectAsync(cancellationToken: token);
            });
            return meter.Stop(round.Count);
        }
        await RoundAsync(warm);
        await SettleJitAsync(ct);
        return await RoundAsync(devices);
    }

    /// <summary>
    /// The node's group commit (<see cref="LedgerWriter"/> at <paramref name="batch"/> forms a commit, the node's tree
    /// taking in each commit's entries) over a fresh ledger: every form handed in at once as its own batch, as the device
    /// grains hand them in. Commits are durable (SQLite synchronous=FULL; PostgreSQL fsync and synchronous_commit on).
    /// </summary>
    public static async Task<LedgerRow> LedgerAsync(string backend, IResultsLedger ledger, int batch, IReadOnlyList<BenchForm> forms, CloudPki pki,
        Func<TimeSpan>? serverCpu = null)
    {
        var log = new TransparencyLog(ledger, ledger, pki.LogKey, TimeProvider.System, NullLogger<TransparencyLog>.Instance);
        await using var writer = new LedgerWriter(ledger, log, Options.Create(new CloudOptions { LedgerBatchSize = batch }), NullLogger<LedgerWriter>.Instance);
        var serverAtStart = serverCpu?.Invoke();
        var meter = Measured.Start();
        var receivedAt = DateTimeOffset.UtcNow;
        var results = await Task.WhenAll(forms.Select(f => writer.AppendAsync(new LedgerBatch { Accepted = [(f.Signed, receivedAt)] })));
        var measured = meter.Stop(forms.Count);
        var server = serverCpu?.Invoke() - serverAtStart;
        if (results.Any(r => r.Conflicts.Count > 0) || writer.FormsWritten != forms.Count)
            throw new InvalidOperationException($"The {backend} ledger wrote {writer.FormsWritten} of {forms.Count} forms.");
        return new LedgerRow(backend, batch, measured, writer.Commits, server);
    }

    /// <summary>
    /// CPU time of a server process and its children (PostgreSQL's postmaster and backends, from /proc; a backend that
    /// exited is in its parent's reaped-children times): what the database's side of the commits cost.
    /// </summary>
    public static TimeSpan ProcessTreeCpu(int rootPid)
    {
        const double ticksPerSecond = 100; // USER_HZ: what /proc's times count in on Linux
        long ticks = 0;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out int pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(directory, "stat")); }
            catch (IOException) { continue; } // gone meanwhile
            // After "pid (comm) ": state, ppid, …; utime, stime, cutime, cstime are fields 14–17 of the whole line.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long Field(int number) => long.Parse(fields[number - 3], System.Globalization.CultureInfo.InvariantCulture);
            if (pid == rootPid) ticks += Field(14) + Field(15) + Field(16) + Field(17);
            else if (Field(4) == rootPid) ticks += Field(14) + Field(15);
        }
        return TimeSpan.FromSeconds(ticks / ticksPerSecond);
    }

    /// <summary>
    /// The grains of one form's path as the ingest drives them, in the node's real silo: the device's grain sequences and
    /// writes the form (through the node's group commit), then the TPS grain takes its totals; the recap settled to the
    /// nation at the end of the round. <paramref name="concurrency"/> devices at a time, each sending its chain in order.
    /// </summary>
    /// <returns>The round, and the forms per group commit it ran at (to take the ledger's share back out).</returns>
    public static async Task<(Measured Path, double FormsPerCommit)> GrainsAsync(InProcessCloud cloud, IReadOnlyList<BenchForm> warm, IReadOnlyList<BenchForm> forms,
        int concurrency, CancellationToken ct)
    {
        var grains = cloud.Services.GetRequiredService<IGrainFactory>();
        var writer = cloud.Services.GetRequiredService<LedgerWriter>();
        async Task<(Measured, double)> RoundAsync(IReadOnlyList<BenchForm> round)
        {
            long commits = writer.Commits, written = writer.FormsWritten;
            var meter = Measured.Start();
            await Parallel.ForEachAsync(round.GroupBy(f => f.Signed.Submission.DeviceId), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
                async (device, _) =>
                {
                    foreach (var f in device)
                    {
                        var s = f.Signed.Submission;
                        var answer = await grains.GetGrain<IDeviceGrain>(s.DeviceId).Submit(f.Signed.Wire, DateTimeOffset.UtcNow);
                        if (answer.Kind != DeviceAnswerKind.Accepted)
                            throw new InvalidOperationException($"The device grain answered {answer.Kind} ({answer.Reason}) to {f.Signed.Hash}.");
                        await cloud.Recap.AcceptAsync(s.Tps, s.Contest, answer.Position, s.Sequence, f.Totals);
                    }
                });
            await cloud.Recap.SettleAsync();
            return (meter.Stop(round.Count), (writer.FormsWritten - written) / (double)Math.Max(1, writer.Commits - commits));
        }
        await RoundAsync(warm);
        await SettleJitAsync(ct);
        return await RoundAsync(forms);
    }

    /// <summary>
    /// Checkpoints signed by the cluster's <see cref="ILogSignerGrain"/> in the running silo (the caller's root, checked
    /// against the ledger's tree, then signed), 8 callers at once, over the node's log as the grains stage left it. Of
    /// distinct sizes, so that no two notes are alike — the warm-up's and the measured ones neither: a verifier remembers
    /// the notes it has checked, and each device meets a checkpoint fresh. The roots come from a copy of the node's tree
    /// read from the ledger, as the ingest computes its own before asking the signer.
    /// </summary>
    /// <returns>The measured signing and the notes it made (up to <paramref name="checkpoints"/>; at most half the log's size).</returns>
    public static async Task<(Measured Signed, string[] Notes)> CheckpointsAsync(InProcessCloud cloud, int checkpoints, CancellationToken ct)
    {
        var checkpoint = await cloud.Log.PublishFreshAsync(ct);
        var mirror = new MerkleTree();
        await foreach (var entry in cloud.Services.GetRequiredService<ILogStore>().ReadLogAsync(0, checkpoint.Size, ct)) mirror.Append(entry);
        int notes = (int)Math.Min(checkpoints, checkpoint.Size / 2);
        var signer = cloud.Services.GetRequiredService<IGrainFactory>().GetGrain<ILogSignerGrain>(0);
        async Task<(Measured, string[])> SignAsync(long largest)
        {
            var signed = new string[notes];
            var meter = Measured.Start();
            await Parallel.ForAsync(0, notes, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
                async (i, _) => signed[i] = (await signer.Sign(largest - i, mirror.Root(largest - i))).Note);
            return (meter.Stop(notes), signed);
        }
        await SignAsync(checkpoint.Size);
        await SettleJitAsync(ct);
        return await SignAsync(checkpoint.Size - notes);
    }

    /// <summary>
    /// The rest of the log, in a quiet process (no silo running): a node's <see cref="TransparencyLog"/> taking in commits
    /// of <paramref name="batch"/> entries (<paramref name="appends"/> in all, the forms' entries cycled) over a store it
    /// never needs to read; inclusion proofs for receipts from that tree; and <paramref name="notes"/> verified as a device
    /// verifies a checkpoint it has not seen before (the first half warms up).
    /// </summary>
    public static async Task<(Measured Appends, Measured Proofs, Measured Verified)> LogAsync(IReadOnlyList<BenchForm> forms, LogSigningKey key, NoteVerifierKey verifier,
        int batch, int appends, int proofs, IReadOnlyList<string> notes, string dataDirectory, CancellationToken ct)
    {
        var entries = forms.Select(f => LogEntry.EncodeSubmission(f.Signed.Wire)).ToArray();
        await using var store = new SqliteLedger(Path.Combine(dataDirectory, "log-store.db"));
        var tree = new TransparencyLog(store, store, key, TimeProvider.System, NullLogger<TransparencyLog>.Instance);
        async Task<Measured> AppendAsync(int count)
        {
            var meter = Measured.Start();
            for (int done = 0; done < count; done += batch)
            {
                var commit = Enumerable.Range(done, Math.Min(batch, count - done)).Select(i => entries[i % entries.Length]).ToArray();
                await tree.FollowAsync(new LedgerCommit([], [], [], tree.Size, commit), ct);
            }
            return meter.Stop(count);
        }
        await AppendAsync(Math.Min(appends, entries.Length));
        await SettleJitAsync(ct);
        var appended = await AppendAsync(appends);

        long size = tree.Size;
        Measured Prove(int count)
        {
            var meter = Measured.Start();
            for (int i = 0; i < count; i++) tree.ProveInclusionAt(i * 7919L % size, size);
            return meter.Stop(count);
        }
        Prove(Math.Min(proofs, WarmCalls));
        await SettleJitAsync(ct);
        var proved = Prove(proofs);

        Measured Verify(IEnumerable<string> some)
        {
            var meter = Measured.Start();
            int count = 0;
            foreach (var note in some)
            {
                if (!LogVerification.VerifyCheckpoint(note, verifier, out _).Ok) throw new InvalidOperationException("A checkpoint the signer made does not verify.");
                count++;
            }
            return meter.Stop(count);
        }
        Verify(notes.Take(notes.Count / 2));
        await SettleJitAsync(ct);
        return (appended, proved, Verify(notes.Skip(notes.Count / 2)));
    }
}
