using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Simulator;

/// <summary>Sends at a set rate: each caller waits for its own slot (start + n / rate). Zero: no pacing.</summary>
public sealed class Pacer(double formsPerSecond)
{
    private readonly long _start = Stopwatch.GetTimestamp();
    private long _next = -1;

    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (formsPerSecond <= 0) return ValueTask.CompletedTask;
        long slot = Interlocked.Increment(ref _next);
        var due = TimeSpan.FromSeconds(slot / formsPerSecond) - Stopwatch.GetElapsedTime(_start);
        return due <= TimeSpan.Zero ? ValueTask.CompletedTask : new ValueTask(Task.Delay(due, cancellationToken));
    }
}

/// <summary>
/// How long a receipted form takes to show in the national total. The k-th form receipted is taken as counted
/// nationally when the nation's count of reported forms (the sum of every contest's TPS reported) first reaches k —
/// forms may overtake each other by a little, so this is the latency of the count, not of one particular form.
/// The nation is read from the public API, as the public reads it.
/// </summary>
public sealed class NationalLatencyProbe(HttpClient api, TimeSpan interval)
{
    private readonly ConcurrentQueue<long> _receipted = new();
    private readonly List<double> _latencies = [];

    private long _pending;

    /// <summary>A form was receipted; <paramref name="submittedAt"/> is its <see cref="Stopwatch"/> timestamp when it was sent.</summary>
    public void Receipted(long submittedAt)
    {
        Interlocked.Increment(ref _pending);
        _receipted.Enqueue(submittedAt);
    }

    /// <summary>Receipted forms the nation's count has not reached yet.</summary>
    public long Pending => Interlocked.Read(ref _pending);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        long matched = 0;
        var waiting = new Queue<long>();
        while (!cancellationToken.IsCancellationRequested)
        {
            try { await Task.Delay(interval, cancellationToken); }
            catch (OperationCanceledException) { break; }
            long counted;
            try { counted = await NationalFormsAsync(cancellationToken); }
            catch (Exception e) when (e is HttpRequestException or JsonException) { continue; }
            catch (OperationCanceledException) { break; }
            long now = Stopwatch.GetTimestamp();
            while (_receipted.TryDequeue(out long sent)) waiting.Enqueue(sent);
            while (matched < counted && waiting.TryDequeue(out long sent))
            {
                _latencies.Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                matched++;
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    /// <summary>Submit → national latencies measured so far, sorted (read after <see cref="RunAsync"/> ended).</summary>
    public double[] Sorted()
    {
        var sorted = _latencies.ToArray();
        Array.Sort(sorted);
        return sorted;
    }

    private async Task<long> NationalFormsAsync(CancellationToken cancellationToken)
    {
        long forms = 0;
        foreach (var contest in Contests.All)
        {
            await using var body = await api.GetStreamAsync($"api/v1/results/{contest.Slug()}/{RegionCode.Nasional}", cancellationToken);
            using var document = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
            forms += document.RootElement.GetProperty("progres").GetProperty("progres").GetInt64();
        }
        return forms;
    }
}

/// <summary>
/// The public results API under load while the ingest runs: region pages (nation, provinces, kabupaten/kota,
/// kecamatan of the sample; every contest) requested at a set rate whatever the answers' pace, each one's latency kept.
/// </summary>
public sealed class ApiLoad(HttpClient api, IReadOnlyList<RegionCode> regions, double requestsPerSecond, int seed)
{
    private readonly ConcurrentBag<double> _latencies = [];
    private long _errors;

    public long Errors => Interlocked.Read(ref _errors);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (requestsPerSecond <= 0 || regions.Count == 0) return;
        var random = new Random(seed);
        var pacer = new Pacer(requestsPerSecond);
        var inFlight = new List<Task>();
        while (!cancellationToken.IsCancellationRequested)
        {
            try { await pacer.WaitAsync(cancellationToken); }
            catch (OperationCanceledException) { break; }
            var contest = Contests.All[random.Next(Contests.All.Count)];
            var region = regions[random.Next(regions.Count)];
            inFlight.Add(RequestAsync($"api/v1/results/{contest.Slug()}/{region}"));
            inFlight.RemoveAll(t => t.IsCompleted);
        }
        await Task.WhenAll(inFlight);
    }

    private async Task RequestAsync(string path)
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await api.GetAsync(path);
            await response.Content.ReadAsByteArrayAsync();
            if (!response.IsSuccessStatusCode) Interlocked.Increment(ref _errors);
            else _latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (HttpRequestException)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    public (int Requests, double P50, double P99) Figures()
    {
        var sorted = _latencies.ToArray();
        Array.Sort(sorted);
        return (sorted.Length, Percentiles.Of(sorted, 0.5), Percentiles.Of(sorted, 0.99));
    }
}

/// <summary>
/// The public tree's files read as the public would while the ingest runs: <c>clients</c> readers over keep-alive
/// connections, each asking for its next file as soon as the last one came (gzip, as browsers ask; kept compressed), four region files
/// (the nation, provinces, kabupaten/kota and kecamatan of the sample, every contest) to one TPS file; a file not
/// published yet (404) is asked again only 10 s later. Starts once the first tree is published; files served per
/// second and latency are kept apart for region and TPS files.
/// </summary>
public sealed class PublicReadLoad(Uri baseAddress, IReadOnlyList<string> regionFiles, IReadOnlyList<string> tpsFiles, int clients, int seed)
{
    public sealed record Figures(long Requests, double PerSecond, double P50, double P99, long NotYetPublished);

    private readonly ConcurrentBag<List<double>> _region = [], _tps = [];
    private readonly ConcurrentDictionary<string, long> _absentUntil = new(StringComparer.Ordinal);
    private long _errors, _notFound, _tpsNotFound;
    private TimeSpan _elapsed;

    public long Errors => Interlocked.Read(ref _errors);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (clients <= 0) return;
        // The body is taken as sent (gzip) and not inflated: the readers share this machine's two cores with the node
        // they measure, and a reader's own inflating is not the server's work.
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients }) { BaseAddress = baseAddress };
        http.DefaultRequestHeaders.AcceptEncoding.Add(new System.Net.Http.Headers.StringWithQualityHeaderValue("gzip"));
        // The tree appears with the first build after the first checkpoint.
        try
        {
            while (!(await http.GetAsync("pemilu/snapshot.json", cancellationToken)).IsSuccessStatusCode)
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }
        catch (OperationCanceledException) { return; }
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var random = new Random(seed + i);
            List<double> region = [], tps = [];
            _region.Add(region);
            _tps.Add(tps);
            while (!cancellationToken.IsCancellationRequested)
            {
                bool isTps = tpsFiles.Count > 0 && random.Next(5) == 0;
                string path = "";
                // A reader who found nothing there comes back later, as a person would: the rate measures files served.
                for (int tries = 0; tries < 8 && path.Length == 0; tries++)
                {
                    var pick = isTps ? tpsFiles[random.Next(tpsFiles.Count)] : regionFiles[random.Next(regionFiles.Count)];
                    if (!_absentUntil.TryGetValue(pick, out long until) || Stopwatch.GetTimestamp() >= until) path = pick;
                }
                if (path.Length == 0)
                {
                    try { await Task.Delay(50, cancellationToken); }
                    catch (OperationCanceledException) { break; }
                    continue;
                }
                long at = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.GetAsync(path, cancellationToken);
                    await response.Content.ReadAsByteArrayAsync(cancellationToken);
                    // Not published yet (a region or TPS whose first form the tree has not reached): counted apart, not timed.
                    if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
                    {
                        Interlocked.Increment(ref isTps ? ref _tpsNotFound : ref _notFound);
                        _absentUntil[path] = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 10;
                    }
                    else if (!response.IsSuccessStatusCode) Interlocked.Increment(ref _errors);
                    else (isTps ? tps : region).Add(Stopwatch.GetElapsedTime(at).TotalMilliseconds);
                }
                catch (OperationCanceledException) { break; }
                catch (HttpRequestException) { Interlocked.Increment(ref _errors); }
            }
        }, CancellationToken.None)));
        _elapsed = Stopwatch.GetElapsedTime(started);
    }

    public (Figures Region, Figures Tps) Results() => (Of(_region, Interlocked.Read(ref _notFound)), Of(_tps, Interlocked.Read(ref _tpsNotFound)));

    private Figures Of(ConcurrentBag<List<double>> lists, long notFound)
    {
        var all = lists.SelectMany(l => l).ToArray();
        Array.Sort(all);
        double seconds = Math.Max(_elapsed.TotalSeconds, 1e-9);
        return new Figures(all.Length, all.Length / seconds, Percentiles.Of(all, 0.5), Percentiles.Of(all, 0.99), notFound);
    }
}
