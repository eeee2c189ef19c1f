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
