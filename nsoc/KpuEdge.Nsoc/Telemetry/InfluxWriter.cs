using System.Net;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KpuEdge.Nsoc.Telemetry;

/// <summary>
/// Writes telemetry to InfluxDB 1.x (<c>POST /write</c>, line protocol, millisecond times) in batches, off the ingest's
/// path: <see cref="TryAdd"/> never waits. While InfluxDB is down the lines wait in memory (up to
/// <see cref="NsocOptions.InfluxBufferLines"/>; past that the oldest are dropped and counted) and the writer retries with
/// backoff, so an InfluxDB outage costs history, never a form and never a security event (those go to the ledger).
/// At start and after a <c>database not found</c> it makes the database and its retention policy.
/// </summary>
public sealed class InfluxWriter : BackgroundService
{
    private readonly NsocOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger<InfluxWriter> _logger;
    private readonly Channel<string> _lines;
    private long _written, _dropped, _failedBatches, _pending, _bytes;
    private volatile bool _down;

    public InfluxWriter(IOptions<NsocOptions> options, IHttpClientFactory? http, TimeProvider time, ILogger<InfluxWriter> logger)
    {
        _options = options.Value;
        _http = http?.CreateClient(nameof(InfluxWriter)) ?? new HttpClient();
        if (Enabled) _http.BaseAddress = new Uri(_options.InfluxUrl.TrimEnd('/') + "/");
        _http.Timeout = TimeSpan.FromSeconds(30);
        _time = time;
        _logger = logger;
        _lines = Channel.CreateBounded<string>(new BoundedChannelOptions(_options.InfluxBufferLines)
        {
            FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true,
        }, _ => Interlocked.Increment(ref _dropped));
    }

    public bool Enabled => _options.InfluxUrl.Length > 0;
    public long Written => Interlocked.Read(ref _written);
    /// <summary>Lines dropped because the buffer was full while InfluxDB was down or slow.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    public long FailedBatches => Interlocked.Read(ref _failedBatches);
    public long Pending => Interlocked.Read(ref _pending);
    /// <summary>Line-protocol bytes written.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytes);
    /// <summary>True while the last write failed.</summary>
    public bool Down => _down;

    /// <summary>After each attempt to write a batch, whether it went through or not (for tests and the wall's figures).</summary>
    public event Action? Attempted;

    /// <summary>Queues lines for the next batch; false when InfluxDB is not configured.</summary>
    public bool TryAdd(IEnumerable<string> lines)
    {
        if (!Enabled) return false;
        foreach (var line in lines)
            if (_lines.Writer.TryWrite(line)) Interlocked.Increment(ref _pending);
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            _logger.LogWarning("Nsoc:InfluxUrl is not set: device telemetry is judged and counted but its history is not kept");
            return;
        }
        var batch = new List<string>(_options.InfluxBatchLines);
        var backoff = TimeSpan.FromSeconds(1);
        bool ensured = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!ensured) ensured = await EnsureDatabaseAsync(stoppingToken);
                if (batch.Count == 0)
                {
                    if (!await _lines.Reader.WaitToReadAsync(stoppingToken)) return;
                    // Let a second's lines gather into one request, unless a batch is full already.
                    using (var gather = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
                    {
                        gather.CancelAfter(TimeSpan.FromSeconds(1));
                        while (batch.Count < _options.InfluxBatchLines)
                        {
                            while (batch.Count < _options.InfluxBatchLines && _lines.Reader.TryRead(out var line)) batch.Add(line);
                            if (batch.Count >= _options.InfluxBatchLines) break;
                            try { await _lines.Reader.WaitToReadAsync(gather.Token); }
                            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested) { break; }
                        }
                    }
                }
                var outcome = await WriteAsync(batch, stoppingToken);
                if (outcome == HttpStatusCode.NotFound) { ensured = false; throw new HttpRequestException("database not found"); }
                Interlocked.Add(ref _pending, -batch.Count);
                batch.Clear();
                backoff = TimeSpan.FromSeconds(1);
                if (_down) _logger.LogInformation("InfluxDB at {Url} takes writes again", _options.InfluxUrl);
                _down = false;
                Attempted?.Invoke();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                Interlocked.Increment(ref _failedBatches);
                if (!_down) _logger.LogWarning("InfluxDB at {Url} refused a batch of {Count} lines ({Error}); keeping them (up to {Max}) and retrying",
                    _options.InfluxUrl, batch.Count, e.Message, _options.InfluxBufferLines);
                _down = true;
                Attempted?.Invoke();
                // The batch in hand also counts against the bound: beyond it, its oldest lines go first.
                int over = (int)Math.Max(0, Pending - _options.InfluxBufferLines);
                if (over > 0)
                {
                    int drop = Math.Min(over, batch.Count);
                    batch.RemoveRange(0, drop);
                    Interlocked.Add(ref _dropped, drop);
                    Interlocked.Add(ref _pending, -drop);
                }
                try { await Task.Delay(backoff, _time, stoppingToken); }
                catch (OperationCanceledException) { return; }
                backoff = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(30).Ticks, backoff.Ticks * 2));
            }
        }
    }

    /// <summary>One batch; a line InfluxDB cannot parse (400) drops the batch's bad lines with an error logged, the rest are written.</summary>
    private async Task<HttpStatusCode> WriteAsync(List<string> batch, CancellationToken cancellationToken)
    {
        var body = new StringBuilder(batch.Count * 200);
        foreach (var line in batch) body.Append(line).Append('\n');
        using var content = new StringContent(body.ToString(), Encoding.UTF8, "text/plain");
        string url = $"write?db={_options.InfluxDatabase}&rp={_options.InfluxRetentionPolicy}&precision=ms";
        using var response = await _http.PostAsync(url, content, cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            Interlocked.Add(ref _written, batch.Count);
            Interlocked.Add(ref _bytes, content.Headers.ContentLength ?? body.Length);
            return response.StatusCode;
        }
        string error = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound || error.Contains("database not found", StringComparison.Ordinal)) return HttpStatusCode.NotFound;
        if (response.StatusCode == HttpStatusCode.BadRequest)
        {
            // Partial write: InfluxDB wrote the good lines and names the first bad one. Nothing we made should be bad.
            _logger.LogError("InfluxDB refused lines of a batch of {Count}: {Error}", batch.Count, error);
            Interlocked.Add(ref _dropped, batch.Count);
            return response.StatusCode;
        }
        throw new HttpRequestException($"{(int)response.StatusCode} {error.Trim()}");
    }

    /// <summary>Makes the database and its retention policy (the default one), or brings the policy's duration to the setting.</summary>
    private async Task<bool> EnsureDatabaseAsync(CancellationToken cancellationToken)
    {
        string db = _options.InfluxDatabase, rp = _options.InfluxRetentionPolicy, keep = _options.InfluxRetention;
        await QueryAsync($"CREATE DATABASE \"{db}\"", cancellationToken);
        string created = await QueryAsync($"CREATE RETENTION POLICY \"{rp}\" ON \"{db}\" DURATION {keep} REPLICATION 1 SHARD DURATION 1d DEFAULT", cancellationToken);
        if (created.Contains("\"error\"", StringComparison.Ordinal))
            await QueryAsync($"ALTER RETENTION POLICY \"{rp}\" ON \"{db}\" DURATION {keep} DEFAULT", cancellationToken);
        _logger.LogInformation("InfluxDB at {Url}: database {Database}, retention policy {Policy} keeping {Duration}", _options.InfluxUrl, db, rp, keep);
        return true;
    }

    private async Task<string> QueryAsync(string statement, CancellationToken cancellationToken)
    {
        using var content = new FormUrlEncodedContent([new KeyValuePair<string, string>("q", statement)]);
        using var response = await _http.PostAsync("query", content, cancellationToken);
        string body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{(int)response.StatusCode} {body.Trim()}");
        return body;
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}
