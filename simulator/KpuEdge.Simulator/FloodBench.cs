using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Benchmarks;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;
using Spectre.Console;
using KpuEdge.TestSupport;

namespace KpuEdge.Simulator;

/// <summary>
/// `kpu-sim bench flood`: genuine devices' receipt latency while, from the same machine, one genuine device floods the
/// broker with forged forms as fast as it can and an outsider holds connections open without ever finishing a TLS
/// handshake (issue 10's attacks) — against the same run without them. Printed and recorded in docs/benchmarks.md.
/// </summary>
public static class FloodBench
{
    public sealed record Settings(int Devices, int Rounds, int Flooders, int InFlight, int SilentConnections, int Seed, string Output);

    private sealed record Phase(string Name, double[] LatenciesMs, long FloodSent, long FloodQuotaRefused, long FloodOther, TimeSpan Elapsed,
        long RejectionRows, long EventRows, long ProcessMb);

    public static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var simulation = new SimulatedElection(tree, election, settings.Seed);
        var tps = simulation.PickTps(settings.Devices + settings.Flooders, ["32"]);
        var pki = SimulationPki.Create(election, settings.Seed);
        var devices = simulation.Provision(tps, pki.Pki);
        var honest = devices.Take(settings.Devices).ToArray();
        var flooders = devices.Skip(settings.Devices).ToArray();
        var ballots = election.Ballots(tree);

        string data = Path.Combine(Path.GetTempPath(), $"kpu-flood-{Environment.ProcessId}");
        if (Directory.Exists(data)) Directory.Delete(data, true);
        var phases = new List<Phase>();
        await using (var cloud = await InProcessCloud.StartAsync(data, tree, election, Microsoft.Extensions.Logging.LogLevel.Error, pki: pki,
                         cancellationToken: cancellationToken))
        {
            await cloud.RegisterAsync(devices.Select(d => d.Credentials), cancellationToken);
            var target = new SimulationTarget(cloud.BrokerHost, cloud.BrokerPort, pki.LogKey);
            var ledger = cloud.Services.GetRequiredService<IResultsLedger>();
            // Each honest device signs its forms in rounds: round 1 the originals, later rounds corrections.
            var signers = honest.ToDictionary(d => d, d => new FormSigner(d.Identity, election, ballots, TimeProvider.System));

            async Task<Phase> RunPhase(string name, int round, bool flood)
            {
                using var stop = new CancellationTokenSource();
                long sent = 0, quota = 0, other = 0;
                long rejectionsBefore = (await ledger.RejectionCountsAsync()).Values.Sum(), eventsBefore = await CountEventsAsync(ledger);
                var flooding = new List<Task>();
                var silent = new List<Socket>();
                if (flood)
                {
                    foreach (var flooder in flooders)
                        flooding.Add(Task.Run(() => FloodAsync(flooder, target, settings.InFlight, () => Interlocked.Increment(ref sent),
                            () => Interlocked.Increment(ref quota), () => Interlocked.Increment(ref other), stop.Token)));
                    for (int i = 0; i < settings.SilentConnections; i++)
                    {
                        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                        try
                        {
                            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(cloud.BrokerHost), cloud.BrokerPort), cancellationToken);
                            silent.Add(socket);
                        }
                        catch (SocketException) { socket.Dispose(); }
                    }
                    // Let the flood reach full speed before measuring.
                    await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
                }
                var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
                var watch = Stopwatch.StartNew();
                await Parallel.ForEachAsync(honest, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
                    async (device, ct) =>
                    {
                        await using var client = new SubmissionClient(device.Identity.DeviceId, target.ConnectionFor(device));
                        await client.ConnectAsync(ct);
                        foreach (var tally in device.Tallies)
                        {
                            var form = signers[device].Sign(tally, correctionReason: round == 1 ? null : $"koreksi putaran {round}");
                            var started = Stopwatch.GetTimestamp();
                            var receipt = await client.SubmitAsync(form, TimeSpan.FromSeconds(60), attempts: 3, ct);
                            if (receipt.Status != ReceiptStatus.Accepted)
                                throw new InvalidOperationException($"An honest form was not accepted: {receipt.Status} {receipt.Reason} {receipt.Detail}");
                            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        }
                    });
                var elapsed = watch.Elapsed;
                await stop.CancelAsync();
                await Task.WhenAll(flooding);
                foreach (var socket in silent) socket.Dispose();
                // The broker's events are written in small batches: let the last ones land before counting.
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
                long rejections = (await ledger.RejectionCountsAsync()).Values.Sum() - rejectionsBefore, events = await CountEventsAsync(ledger) - eventsBefore;
                long mb = Process.GetCurrentProcess().WorkingSet64 / (1024 * 1024);
                return new Phase(name, latencies.Order().ToArray(), sent, quota, other, elapsed, rejections, events, mb);
            }

            for (int round = 1; round <= settings.Rounds; round++)
            {
                bool flood = round % 2 == 0;
                var phase = await RunPhase(flood ? "under flood" : "quiet", round, flood);
                phases.Add(phase);
                AnsiConsole.WriteLine($"round {round} ({phase.Name}): {phase.LatenciesMs.Length} receipts, p50 {Percentiles.Of(phase.LatenciesMs, 0.5):F0} ms, p99 {Percentiles.Of(phase.LatenciesMs, 0.99):F0} ms; flood {phase.FloodSent:N0} sent, {phase.FloodQuotaRefused:N0} refused for quota");
            }
        }
        Directory.Delete(data, true);

        var md = new StringBuilder();
        void Line(string text) { AnsiConsole.WriteLine(text); md.AppendLine(text); }
        Line($"Machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd} (UTC); seed {settings.Seed}.");
        Line("");
        Line($"`kpu-sim bench flood`: {settings.Devices} genuine devices (16 at a time) each send their five forms one after another over mutual TLS "
             + "and wait for each verified receipt, in rounds (originals, then corrections); every other round, from the same machine, "
             + $"{settings.Flooders} genuine device(s) publish forged forms (QoS 1, {settings.InFlight} in flight each) as fast as the broker lets them, and "
             + $"{settings.SilentConnections} connections are held open without ever starting a TLS handshake. The cloud is the in-process one "
             + "(embedded broker with its default per-device quota — bursts of 400, 40 a second — silo, SQLite ledger).");
        Line("");
        Line("| round | receipts | receipt p50 | p99 | max | flood publishes (refused for quota) | rejection rows written | security events written | process RSS |");
        Line("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var p in phases)
            Line($"| {p.Name} | {p.LatenciesMs.Length} | {Percentiles.Of(p.LatenciesMs, 0.5):F0} ms | {Percentiles.Of(p.LatenciesMs, 0.99):F0} ms | {p.LatenciesMs[^1]:F0} ms | "
                 + $"{p.FloodSent:N0} ({p.FloodQuotaRefused:N0}) | {p.RejectionRows:N0} | {p.EventRows:N0} | {p.ProcessMb:N0} MB |");
        Line("");
        Line("The flooder's forged forms beyond its quota are answered *Quota exceeded* by the broker and never read; those within it are "
             + "refused by the ingest (`bad_signature`), answered each, but written as rows and events at most 20 a minute per sender and reason; "
             + "the broker's own refusals of the flood (`rate_limited`) are one event a minute per client, carrying the count held back. "
             + "Rows and events are counted from the flood's start (2 s before the measured sends) to 2 s after its end; a second flood "
             + "within the same minute writes none (the first one's window still holds them). Client and cloud share the machine's two "
             + "cores, so the flood's own TLS and MQTT work competes with the cloud's.");
        BenchmarkFile.WriteSection(settings.Output, "flood", "## A genuine device's receipts while another floods (`kpu-sim bench flood`)\n\n" + md);
        AnsiConsole.MarkupLine($"[green]Recorded in {Markup.Escape(settings.Output)}[/]");
        return 0;
    }


    private static async Task<long> CountEventsAsync(IResultsLedger ledger)
    {
        long count = 0;
        for (long after = 0; ;)
        {
            var page = await ledger.SecurityEventsAsync(after, 1000);
            if (page.Count == 0) return count;
            count += page.Count;
            after = page[^1].Id!.Value;
        }
    }

    /// <summary>A genuine device turned against the system: forged forms (another key) as fast as the broker takes them.</summary>
    private static async Task FloodAsync(SimulatedDevice flooder, SimulationTarget target, int inFlight, Action sent, Action quota, Action other,
        CancellationToken stop)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        try
        {
            await client.ConnectAsync(target.ConnectionFor(flooder).ClientOptions(flooder.Identity.DeviceId, TimeProvider.System)
                .WithCleanStart().WithTimeout(TimeSpan.FromSeconds(60)).Build(), stop);
            var forgery = SignedSubmission.Sign(new Submission
            {
                ElectionId = "pemilu-2024", DeviceId = flooder.Identity.DeviceId, Sequence = 1, DeviceTime = DateTimeOffset.UtcNow,
                Tally = flooder.Tallies[0],
            }, DeviceKey.Generate());
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(Topics.Submission(flooder.Identity.Tps, flooder.Tallies[0].Contest, flooder.Identity.DeviceId))
                .WithPayload(forgery.Wire).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
            await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        var result = await client.PublishAsync(message, stop);
                        sent();
                        if (result.ReasonCode == MqttClientPublishReasonCode.QuotaExceeded) quota();
                        else other();
                    }
                    catch (OperationCanceledException) { return; }
                    catch (Exception) when (!client.IsConnected) { return; }
                    catch (MQTTnet.Exceptions.MqttCommunicationTimedOutException)
                    {
                        // The broker answers a flood at its own pace: a PUBACK later than the client waits is no failure of ours.
                        sent();
                        other();
                    }
                }
            }));
        }
        catch (OperationCanceledException) { }
        finally
        {
            try { await client.DisconnectAsync(); }
            catch (Exception) { /* the flood is over either way */ }
            client.Dispose();
        }
    }
}
