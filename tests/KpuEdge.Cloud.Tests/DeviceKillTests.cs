using System.Diagnostics;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using KpuEdge.Edge.Delivery;
using KpuEdge.Simulator;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Forms;
using Microsoft.Extensions.DependencyInjection;
using KpuEdge.TestSupport;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The real kpu-edge process, killed (SIGKILL, as a power cut kills it) at seeded random moments while it signs and
/// sends, fifty times over, then allowed to finish: its outbox stays intact, its chain never reuses a number, and in
/// the end every form it signed is in the cloud's ledger exactly once — nothing lost, nothing counted twice.
/// </summary>
public sealed class DeviceKillTests : IAsyncLifetime
{
    private const int Kills = 50;
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("8171")).First(); // Kota Ambon
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"kpu-kill-{Guid.NewGuid():N}");
    private readonly SimulationPki _pki = SimulationPki.Create(CloudFixture.Election, seed: 51);
    private InProcessCloud _cloud = null!;
    private string _deviceDir = null!;

    public async Task InitializeAsync()
    {
        _cloud = await InProcessCloud.StartAsync(Path.Combine(_dir, "cloud"), CloudFixture.Tree, CloudFixture.Election, pki: _pki);
        var device = _pki.Pki.IssueDevice($"dev-{Tps}", KpuRole.Tps, Tps.Value, DeviceKey.Generate());
        _cloud.Register(device);
        _deviceDir = Path.Combine(_dir, "device");
        device.Save(_deviceDir);
        var (configKey, configCertificate) = _pki.Pki.IssueSigner("kpu-config", KpuRole.Config);
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(Path.Combine(_deviceDir, DeviceCredentials.ConfigBundleFile), ConfigBundle.Sign(new DeviceConfig
        {
            DeviceId = device.DeviceId, Role = KpuRole.Tps, Assignment = Tps.Value, ElectionId = CloudFixture.Election.ElectionId,
            Brokers = [$"mqtts://127.0.0.1:{_cloud.BrokerPort}"], CaCertificates = [device.ChainPem()],
            LogVerifierKey = _pki.LogKey.ToString(),
            Telemetry = new TelemetrySettings { Interval = TimeSpan.FromMinutes(1), Topic = Topics.Telemetry(device.DeviceId) },
            IssuedAt = now.AddMinutes(-1), ExpiresAt = now.AddDays(1),
        }, configKey, configCertificate));
    }

    /// <summary>A phone photo of the TPS's PPWP page, different for each run.</summary>
    private string Photo(int run)
    {
        var layout = FormLayout.For(CloudFixture.Election, CloudFixture.Ballots.For(ContestId.Ppwp, Tps)!);
        using var page = FormRenderer.RenderPage(layout, 1, Tps, CloudFixture.Tree);
        string path = Path.Combine(_dir, $"photo-{run}.jpg");
        File.WriteAllBytes(path, Photographer.PhotographJpeg(page, new Random(run)));
        return path;
    }

    private static string EdgeDll => Path.Combine(AppContext.BaseDirectory, "kpu-edge.dll");

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

    /// <summary>Starts kpu-edge; <paramref name="signed"/> completes when it reports the form signed into its outbox.</summary>
    private Process Start(string[] arguments, TaskCompletionSource? signed = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(EdgeDll);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            _output.Enqueue(e.Data);
            if (e.Data.StartsWith("Ditandatangani", StringComparison.Ordinal)) signed?.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue("! " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private Process Start(params string[] arguments) => Start(arguments, null);

    [Fact]
    public async Task A_device_process_killed_fifty_times_loses_nothing_and_nothing_is_counted_twice()
    {
        var tallies = SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, 5);
        var random = new Random(51);
        // The kill moments are drawn relative to how long a whole run takes on this machine now (a loaded machine starts
        // a process slowly), measured by a first run that is left alone; and every other run is killed after it reported
        // the form signed, so that the transaction, sending and receipt phases are hit whatever the load.
        var whole = TimeSpan.Zero;
        for (int i = 0; i < Kills; i++)
        {
            // Each run signs one more form — the first five contests, then corrections of them — and is killed at a
            // random moment: before signing, during the transaction, while sending, or after the receipt.
            var tally = tallies[i % tallies.Count];
            string tallyPath = Path.Combine(_dir, $"tally-{i}.json");
            File.WriteAllText(tallyPath, tally.ToJson());
            var arguments = new List<string> { "submit", "--device-dir", _deviceDir, "--tally", tallyPath, "--timeout", "20" };
            // Every other form with a photo of its own, recompressed, signed and sent by the process after the numbers.
            if (i % 2 == 0) arguments.AddRange(["--image", Photo(i)]);
            if (i >= tallies.Count) arguments.AddRange(["--correction", $"koreksi ke-{i}"]);
            var signed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var clock = Stopwatch.StartNew();
            using var process = Start([.. arguments], signed);
            var exited = process.WaitForExitAsync();
            if (i == 0)
            {
                await exited;
                whole = clock.Elapsed;
                continue;
            }
            if (i % 2 == 0) await Task.WhenAny(signed.Task, exited);
            var killAfter = TimeSpan.FromMilliseconds(random.NextDouble() * whole.TotalMilliseconds * (i % 2 == 0 ? 0.5 : 1.1));
            if (await Task.WhenAny(exited, Task.Delay(killAfter)) != exited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        // Power back for good: the device delivers whatever its outbox still holds.
        using (var deliver = Start("deliver", "--device-dir", _deviceDir, "--timeout", "120"))
        {
            await deliver.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(4));
        }

        using var outbox = new Outbox(Path.Combine(_deviceDir, Outbox.FileName));
        var ledgerForDiagnosis = _cloud.Services.GetRequiredService<IResultsLedger>();
        string diagnosis = string.Join("\n", outbox.All().Select(e => $"#{e.Sequence} {e.Contest} {e.State} x{e.Attempts} {e.Reason}"))
            + "\nrejections: " + string.Join(", ", (await ledgerForDiagnosis.RejectionCountsAsync()).Select(p => $"{p.Key} {p.Value}"))
            + "\noutput tail:\n" + string.Join("\n", _output.TakeLast(15));
        Assert.True(outbox.Status().AllSettled && outbox.Status().Rejected == 0, diagnosis);
        Assert.Equal("ok", outbox.IntegrityCheck());
        var entries = outbox.All();
        Assert.NotEmpty(entries);
        // The chain is gapless and never reused a number: 1..n, each once, each linked to the one before.
        Assert.Equal(Enumerable.Range(1, entries.Count).Select(n => (ulong)n), entries.Select(e => e.Sequence));
        Assert.Equal((ulong)entries.Count, outbox.Chain.Sequence);
        Assert.All(entries, e => Assert.Equal(OutboxState.Receipted, e.State));

        // The cloud holds exactly these forms, each once, and refused nothing of this device's chain.
        var ledger = _cloud.Services.GetRequiredService<IResultsLedger>();
        var recorded = (await ledger.ReadAllAsync().ToListAsync()).Where(e => e.Tps == Tps).Select(e => e.Hash).ToList();
        Assert.Equal(entries.Select(e => e.Hash.ToString()).Order(), recorded.Select(h => h.ToString()).Order());
        // Every photo the outbox holds was stored by the cloud, byte for byte, under the hash its form signed.
        var pages = outbox.Pages();
        Assert.NotEmpty(pages);
        Assert.All(pages, p => Assert.Equal(PageState.Stored, p.State));
        var images = _cloud.Services.GetRequiredService<KpuEdge.Cloud.Images.ImageReceiver>();
        foreach (var p in pages)
        {
            var stored = Assert.Single((await ledger.ImagePagesAsync(p.ImageHash)), s => s.Page == p.Page);
            Assert.Equal(p.ImageHash, Sha256Hash.Of(File.ReadAllBytes(images.PathOf(stored)!)));
        }
        var refusals = (await ledger.RejectionCountsAsync());
        Assert.False(refusals.ContainsKey(RejectReasons.ChainFork));
        Assert.False(refusals.ContainsKey(RejectReasons.ChainRewind));
    }

    public async Task DisposeAsync()
    {
        await _cloud.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
