using System.Text;

namespace KpuEdge.TestSupport.LocalServices;

/// <summary>
/// An InfluxDB 1.x server of the project's own (Debian's <c>influxd</c>), for tests, the demo and the simulator: its
/// meta, data and WAL directories, configuration and log in <c>dataRoot/influxdb</c>, the HTTP API on 127.0.0.1 only,
/// the TSI index (series on disk: a series per device for the whole nation), no usage reporting, no _internal monitor.
/// </summary>
/// <example>
/// <code>
/// await using var influx = await LocalInflux.StartAsync("out/services");
/// // influx.Url → http://127.0.0.1:port (v1 /write and /query)
/// </code>
/// </example>
public sealed class LocalInflux : IAsyncDisposable
{
    private const string ServiceName = "InfluxDB";
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private ServiceProcess? _server;

    private LocalInflux(string root, string serverPath)
    {
        Root = root;
        ServerPath = serverPath;
    }

    public string Root { get; }
    public string ConfigPath => Path.Combine(Root, "influxdb.conf");
    public string LogPath => Path.Combine(Root, "influxdb.log");
    private string PidFile => Path.Combine(Root, "server.pid");
    public string ServerPath { get; }
    public int Port { get; private set; }
    /// <summary>The RPC port (backup/restore), also bound to 127.0.0.1 only.</summary>
    public int RpcPort { get; private set; }
    public string Url => $"http://127.0.0.1:{Port}";
    public bool IsRunning => _server is { HasExited: false };

    /// <exception cref="ServiceNotInstalledException">No influxd binary (Debian package <c>influxdb</c>).</exception>
    /// <exception cref="LocalServiceException">It would not start; the message ends with its log.</exception>
    public static async Task<LocalInflux> StartAsync(string dataRoot, int port = 0, CancellationToken ct = default)
    {
        var influx = new LocalInflux(Path.Combine(Path.GetFullPath(dataRoot), "influxdb"), FindServer());
        try
        {
            Directory.CreateDirectory(influx.Root);
            await ServiceProcess.KillStaleAsync([influx.PidFile], "server.pid");
            for (int attempt = 1; ; attempt++)
            {
                influx.Port = port != 0 ? port : FreePorts.OnLoopback();
                influx.RpcPort = FreePorts.OnLoopback();
                try
                {
                    await influx.RestartAsync(ct);
                    break;
                }
                catch (LocalServiceException e) when (port == 0 && attempt < 5 && e.LogTail?.Contains("address already in use") == true)
                {
                    // another process took a free port before the server bound it: take others
                }
            }
            return influx;
        }
        catch
        {
            await influx.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server if it runs, then starts it again on the same ports with the same data.</summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await StopCoreAsync();
            await File.WriteAllTextAsync(ConfigPath, Config(), ct);
            long logOffset = ServiceProcess.LogLength(LogPath);
            var server = await ServiceProcess.LaunchAsync(
                ServiceName, ServiceAccount.Current.Wrap([ServerPath, "run", "-config", ConfigPath], dieWithParent: true), Root, LogPath, PidFile, ProcessTable.SigTerm);
            await server.WaitUntilReadyAsync(AnswersPingAsync, StartTimeout, logOffset, ct);
            _server = server;
        }
        finally { _gate.Release(); }
    }

    /// <summary>Stops the server (SIGTERM; killed if it will not), as an outage would look to its clients. The data stays.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try { await StopCoreAsync(); }
        finally { _gate.Release(); }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try { await StopCoreAsync(); }
        finally { _gate.Release(); }
    }

    private static string FindServer()
    {
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin")
            .Select(dir => Path.Combine(dir, "influxd"));
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new ServiceNotInstalledException(ServiceName, "influxdb", "influxd in PATH and /usr/bin");
    }

    private string Config()
    {
        string Q(string path) => "\"" + path.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        return new StringBuilder()
            .Append("# Written by KpuEdge.TestSupport's LocalInflux at each start; edits here are overwritten.\n")
            .Append("reporting-disabled = true\n")
            .Append($"bind-address = \"127.0.0.1:{RpcPort}\"\n")
            .Append($"[meta]\n  dir = {Q(Path.Combine(Root, "meta"))}\n  logging-enabled = false\n")
            .Append($"[data]\n  dir = {Q(Path.Combine(Root, "data"))}\n  wal-dir = {Q(Path.Combine(Root, "wal"))}\n")
            .Append("  index-version = \"tsi1\"\n  max-series-per-database = 3000000\n  max-values-per-tag = 0\n  query-log-enabled = false\n")
            .Append("[monitor]\n  store-enabled = false\n")
            .Append($"[http]\n  bind-address = \"127.0.0.1:{Port}\"\n  log-enabled = false\n  pprof-enabled = false\n")
            .Append("[logging]\n  level = \"warn\"\n  suppress-logo = true\n")
            .ToString();
    }

    private async Task<bool> AnswersPingAsync(CancellationToken ct)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            using var response = await http.GetAsync($"{Url}/ping", ct);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private async Task StopCoreAsync()
    {
        if (_server is not { } server) return;
        _server = null;
        server.Signal(ProcessTable.SigTerm);
        if (!await server.WaitForExitAsync(StopTimeout)) await server.KillAsync();
        server.Forget();
    }
}
