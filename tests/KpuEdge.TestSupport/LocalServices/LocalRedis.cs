using System.Text;
using StackExchange.Redis;

namespace KpuEdge.TestSupport.LocalServices;

/// <summary>
/// A Redis server of the project's own, for tests and the simulator: its configuration, append-only files and log in
/// <c>dataRoot/redis</c>, listening on 127.0.0.1 only, durable through an append-only file synced every second.
/// </summary>
/// <example>
/// <code>
/// await using var redis = await LocalRedis.StartAsync("out/services");
/// using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
/// </code>
/// </example>
public sealed class LocalRedis : IAsyncDisposable
{
    private const string ServiceName = "Redis";
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly LocalRedisOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ServiceProcess? _server;

    private LocalRedis(string root, string serverPath, LocalRedisOptions options)
    {
        Root = root;
        ServerPath = serverPath;
        _options = options;
    }

    /// <summary><c>dataRoot/redis</c>: the configuration, the append-only files, the log and the pid file (Redis's working directory).</summary>
    public string Root { get; }
    public string ConfigPath => Path.Combine(Root, "redis.conf");
    public string LogPath => Path.Combine(Root, "redis.log");
    private string PidFile => Path.Combine(Root, "server.pid");
    public string ServerPath { get; }

    public int Port { get; private set; }
    /// <summary>StackExchange.Redis's configuration string: "127.0.0.1:port".</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";
    public bool IsRunning => _server is { HasExited: false };
    /// <summary>The server's pid while it runs (also in the data root's server.pid), for fault tests.</summary>
    public int? ProcessId => _server?.Pid;

    /// <summary>
    /// Starts Redis with its data under <paramref name="dataRoot"/> (the append-only file is loaded when present),
    /// kills a server a crashed run left on the same data, and waits until it answers PING.
    /// </summary>
    /// <exception cref="ServiceNotInstalledException">No redis-server binary.</exception>
    /// <exception cref="LocalServiceException">It would not start; the message ends with its log.</exception>
    public static async Task<LocalRedis> StartAsync(string dataRoot, LocalRedisOptions? options = null, CancellationToken ct = default)
    {
        options ??= new LocalRedisOptions();
        options.Validate();
        var redis = new LocalRedis(Path.Combine(Path.GetFullPath(dataRoot), "redis"), FindServer(options.ServerPath), options);
        try
        {
            Directory.CreateDirectory(redis.Root);
            await ServiceProcess.KillStaleAsync([redis.PidFile], "server.pid");
            for (int attempt = 1; ; attempt++)
            {
                redis.Port = options.Port != 0 ? options.Port : FreePorts.OnLoopback();
                try
                {
                    await redis.RestartAsync(ct);
                    break;
                }
                catch (LocalServiceException e) when (options.Port == 0 && attempt < 5 && e.LogTail?.Contains("Address already in use") == true)
                {
                    // another process took the free port before the server bound it: take another
                }
            }
            return redis;
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server (SIGTERM: Redis syncs its append-only file and exits; killed if it will not).</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try { await StopCoreAsync(); }
        finally { _gate.Release(); }
    }

    /// <summary>SIGKILLs the server, as a crash would: writes of the last second may be lost (appendfsync everysec).</summary>
    public async Task KillAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (_server is { } server) await server.KillAsync();
            _server = null;
        }
        finally { _gate.Release(); }
    }

    /// <summary>Stops the server if it runs, then starts it again on the same port with the same data.</summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await StopCoreAsync();
            await File.WriteAllTextAsync(ConfigPath, Config(), ct);
            long logOffset = ServiceProcess.LogLength(LogPath);
            var server = await ServiceProcess.LaunchAsync(
                ServiceName, ServiceAccount.Current.Wrap([ServerPath, ConfigPath], dieWithParent: true), Root, LogPath, PidFile, ProcessTable.SigTerm);
            await server.WaitUntilReadyAsync(AnswersPingAsync, _options.StartTimeout, logOffset, ct);
            _server = server;
        }
        finally { _gate.Release(); }
    }

    /// <summary>Stops the server. The data stays in <see cref="Root"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try { await StopCoreAsync(); }
        finally { _gate.Release(); }
    }

    private static string FindServer(string? serverPath)
    {
        if (serverPath is not null)
            return File.Exists(serverPath) ? serverPath : throw new ServiceNotInstalledException(ServiceName, "redis-server", serverPath);
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin")
            .Select(dir => Path.Combine(dir, "redis-server"));
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new ServiceNotInstalledException(ServiceName, "redis-server", "redis-server in PATH and /usr/bin");
    }

    /// <summary>The configuration, written anew at each start (the port is this instance's).</summary>
    private string Config()
    {
        var settings = new Dictionary<string, string>
        {
            ["bind"] = "127.0.0.1",
            ["port"] = Port.ToString(),
            ["protected-mode"] = "no", // bound to loopback only; protected mode would refuse nothing there but warns
            ["daemonize"] = "no", // a child of this process, stopped with it
            ["supervised"] = "no",
            ["dir"] = Quote(Root),
            ["logfile"] = "\"\"", // stdout, which goes to redis.log
            ["appendonly"] = "yes",
            ["appendfsync"] = "everysec",
            ["appenddirname"] = "\"appendonlydir\"",
            ["save"] = "\"\"", // the append-only file is the durability; no RDB snapshots forked besides it
        };
        foreach (var (name, value) in _options.Settings) settings[name] = value;

        var config = new StringBuilder("# Written by KpuEdge.TestSupport's LocalRedis at each start; edits here are overwritten.\n");
        foreach (var (name, value) in settings) config.Append(name).Append(' ').Append(value).Append('\n');
        return config.ToString();
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    private async Task<bool> AnswersPingAsync(CancellationToken ct)
    {
        var configuration = new ConfigurationOptions
        {
            EndPoints = { { "127.0.0.1", Port } },
            AbortOnConnectFail = true,
            ConnectRetry = 0,
            ConnectTimeout = 2000,
            SyncTimeout = 2000,
            AsyncTimeout = 2000,
        };
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
            await connection.GetDatabase().PingAsync();
            return true;
        }
        catch (RedisException)
        {
            return false; // not listening yet, or "LOADING" its append-only file
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
