using Npgsql;

namespace KpuEdge.TestSupport.LocalServices;

/// <summary>
/// A PostgreSQL server of the project's own, for tests and the simulator: its cluster in <c>dataRoot/postgres/data</c>
/// (made by initdb on first start), its unix socket in <c>dataRoot/postgres/run</c>, its log in
/// <c>dataRoot/postgres/postgres.log</c>, listening on 127.0.0.1 only, with trust authentication for the superuser
/// <c>postgres</c>. Durable as a ledger needs: fsync and synchronous commit on. As root it runs as the unprivileged
/// <c>postgres</c> account (PostgreSQL refuses root), which then owns <c>dataRoot/postgres</c>; the data root itself
/// gets search permission for others so that account can reach its folder.
/// </summary>
/// <example>
/// <code>
/// await using var postgres = await LocalPostgres.StartAsync("out/services");
/// await using var dataSource = NpgsqlDataSource.Create(postgres.ConnectionString);
/// </code>
/// </example>
public sealed class LocalPostgres : IAsyncDisposable
{
    /// <summary>The superuser initdb creates, whatever account runs the server.</summary>
    public const string Superuser = "postgres";

    private const string ServiceName = "PostgreSQL";
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    private readonly LocalPostgresOptions _options;
    private readonly string _binDirectory;
    private readonly ServiceAccount _account;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ServiceProcess? _server;

    private LocalPostgres(string root, LocalPostgresOptions options, string binDirectory, ServiceAccount account)
    {
        Root = root;
        _options = options;
        _binDirectory = binDirectory;
        _account = account;
    }

    /// <summary><c>dataRoot/postgres</c>: the cluster, the socket folder, the log and the pid file.</summary>
    public string Root { get; }
    public string DataDirectory => Path.Combine(Root, "data");
    /// <summary>The unix socket's folder, or null when its path would be too long for a socket (then TCP only).</summary>
    public string? SocketDirectory => SocketPathFits() ? Path.Combine(Root, "run") : null;
    public string LogPath => Path.Combine(Root, "postgres.log");
    private string PidFile => Path.Combine(Root, "server.pid");

    public int Port { get; private set; }
    public string Database => _options.Database;
    /// <summary>Npgsql's connection string for <see cref="Database"/> as <see cref="Superuser"/> over 127.0.0.1.</summary>
    public string ConnectionString => ConnectionStringFor(Database);
    /// <summary>The server's version folder, e.g. /usr/lib/postgresql/15/bin.</summary>
    public string BinDirectory => _binDirectory;
    public bool IsRunning => _server is { HasExited: false };
    /// <summary>The server's pid while it runs (also in the data root's server.pid), for fault tests.</summary>
    public int? ProcessId => _server?.Pid;

    public string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = Superuser, Database = database }.ConnectionString;

    /// <summary>
    /// Starts PostgreSQL with its data under <paramref name="dataRoot"/> (made on first start, reused after), kills a
    /// server a crashed run left on the same data, waits until it accepts connections and creates the database.
    /// </summary>
    /// <exception cref="ServiceNotInstalledException">No PostgreSQL under <see cref="LocalPostgresOptions.BinariesRoot"/>.</exception>
    /// <exception cref="LocalServiceException">It would not start; the message ends with its log.</exception>
    public static async Task<LocalPostgres> StartAsync(string dataRoot, LocalPostgresOptions? options = null, CancellationToken ct = default)
    {
        options ??= new LocalPostgresOptions();
        options.Validate();
        string bin = FindBinaries(options.BinariesRoot);
        var account = ServiceAccount.Unprivileged("postgres", "nobody");
        var postgres = new LocalPostgres(Path.Combine(Path.GetFullPath(dataRoot), "postgres"), options, bin, account);
        try
        {
            await postgres.PrepareAsync(dataRoot, ct);
            for (int attempt = 1; ; attempt++)
            {
                postgres.Port = options.Port != 0 ? options.Port : FreePorts.OnLoopback();
                try
                {
                    await postgres.LaunchAsync(ct);
                    break;
                }
                catch (LocalServiceException e) when (options.Port == 0 && attempt < 5 && e.LogTail?.Contains("Address already in use") == true)
                {
                    // another process took the free port before the server bound it: take another
                }
            }
            await postgres.CreateDatabaseAsync(ct);
            return postgres;
        }
        catch
        {
            await postgres.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server with a fast shutdown (<c>pg_ctl stop -m fast</c>: sessions ended, a clean checkpoint).</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try { await StopCoreAsync(ct); }
        finally { _gate.Release(); }
    }

    /// <summary>SIGKILLs the postmaster and its backends at once, as a crash would; the next start recovers from the WAL.</summary>
    public async Task KillAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (_server is { } server) await server.KillAsync();
            _server = null;
            ForgetPooledConnections();
        }
        finally { _gate.Release(); }
    }

    /// <summary>Stops the server if it runs (fast shutdown), then starts it again on the same port with the same data.</summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await StopCoreAsync(ct);
            await LaunchCoreAsync(ct);
        }
        finally { _gate.Release(); }
    }

    /// <summary>Stops the server (fast shutdown, killed if it will not stop). The data stays in <see cref="Root"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try { await StopCoreAsync(CancellationToken.None); }
        finally { _gate.Release(); }
    }

    private static string FindBinaries(string binariesRoot)
    {
        // Debian's layout: /usr/lib/postgresql/<major>/bin; the newest major wins.
        var newest = (Directory.Exists(binariesRoot) ? Directory.GetDirectories(binariesRoot) : [])
            .Select(dir => (Dir: dir, Major: int.TryParse(Path.GetFileName(dir), out int major) ? major : -1))
            .Where(v => v.Major >= 0 && File.Exists(Path.Combine(v.Dir, "bin", "postgres")) && File.Exists(Path.Combine(v.Dir, "bin", "initdb")))
            .OrderByDescending(v => v.Major)
            .FirstOrDefault();
        return newest.Dir is null
            ? throw new ServiceNotInstalledException(ServiceName, "postgresql", $"{binariesRoot}/*/bin/postgres")
            : Path.Combine(newest.Dir, "bin");
    }

    private async Task PrepareAsync(string dataRoot, CancellationToken ct)
    {
        Directory.CreateDirectory(Root);
        string lockFile = Path.Combine(DataDirectory, "postmaster.pid");
        await ServiceProcess.KillStaleAsync([PidFile, lockFile], "postmaster.pid");
        // A postmaster killed with its parent may linger as a zombie until init reaps it; PostgreSQL would take that
        // for a server still running on this data. It is dead: its lock file goes.
        if (ServiceProcess.ReadPid(lockFile) is { } lockPid && ProcessTable.IsGone(lockPid)) File.Delete(lockFile);

        if (_account.SwitchesUser)
        {
            // The unprivileged account must reach its folder: search (not read) permission for others on the data root.
            ProcessTable.AllowOthersToSearch(Path.GetFullPath(dataRoot));
            _account.Own(Root);
            var (reachable, _) = await HelperCommand.RunAsync(_account.Wrap(["/usr/bin/test", "-w", Root]), Root, TimeSpan.FromSeconds(30), ct);
            if (reachable != 0)
                throw new LocalServiceException(
                    $"PostgreSQL refuses to run as root, and the account '{_account.Name}' it runs as cannot reach {Root}: " +
                    $"{string.Join(", ", ProcessTable.FoldersClosedToOthers(Root).DefaultIfEmpty("a folder above it"))} " +
                    $"lacks search permission for others (chmod o+x), or choose a data root under {Path.GetTempPath()}");
        }

        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
            await InitDbAsync(ct);

        if (SocketDirectory is { } socketDirectory)
        {
            Directory.CreateDirectory(socketDirectory);
            _account.Own(socketDirectory);
        }
    }

    /// <summary>initdb into a fresh folder that becomes the data directory only once complete: a crash midway leaves nothing half made.</summary>
    private async Task InitDbAsync(CancellationToken ct)
    {
        if (Directory.Exists(DataDirectory))
        {
            if (Directory.EnumerateFileSystemEntries(DataDirectory).Any())
                throw new LocalServiceException($"{DataDirectory} holds files but is no PostgreSQL cluster (no PG_VERSION); move it away");
            Directory.Delete(DataDirectory);
        }
        string fresh = DataDirectory + ".initdb";
        if (Directory.Exists(fresh)) Directory.Delete(fresh, recursive: true);

        var (exitCode, output) = await HelperCommand.RunAsync(
            _account.Wrap([
                Path.Combine(_binDirectory, "initdb"), "-D", fresh, "-U", Superuser, "--auth=trust",
                "--encoding=UTF8", "--locale=C", "--no-instructions",
            ]),
            Root, TimeSpan.FromMinutes(5), ct);
        if (exitCode != 0) throw new LocalServiceException($"initdb failed (exit code {exitCode}) for {fresh}:{Environment.NewLine}{output}");

        // Only this machine's loopback and the socket folder: trust is safe where nobody else can connect.
        string hba = Path.Combine(fresh, "pg_hba.conf");
        await File.WriteAllTextAsync(hba, """
            # Written by KpuEdge.TestSupport's LocalPostgres: trust on the unix socket (a folder inside the data root) and 127.0.0.1 only.
            local   all             all                                     trust
            host    all             all             127.0.0.1/32            trust
            local   replication     all                                     trust
            host    replication     all             127.0.0.1/32            trust

            """, ct);
        _account.Own(hba);
        Directory.Move(fresh, DataDirectory);
    }

    private async Task LaunchAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try { await LaunchCoreAsync(ct); }
        finally { _gate.Release(); }
    }

    private async Task LaunchCoreAsync(CancellationToken ct)
    {
        var settings = new Dictionary<string, string>
        {
            ["listen_addresses"] = "127.0.0.1",
            ["unix_socket_directories"] = SocketDirectory is { } socket ? $"\"{socket}\"" : "",
            ["shared_buffers"] = _options.SharedBuffers,
            ["max_connections"] = _options.MaxConnections.ToString(),
            // A ledger: every commit on disk before it is acknowledged.
            ["fsync"] = "on",
            ["synchronous_commit"] = "on",
            ["full_page_writes"] = "on",
            ["wal_level"] = "replica",
            ["logging_collector"] = "off", // stderr already goes to postgres.log
            ["lc_messages"] = "C",
            ["timezone"] = "UTC",
        };
        foreach (var (name, value) in _options.Settings) settings[name] = value;

        var argv = new List<string> { Path.Combine(_binDirectory, "postgres"), "-D", DataDirectory, "-p", Port.ToString() };
        foreach (var (name, value) in settings) argv.AddRange(["-c", $"{name}={value}"]);

        long logOffset = ServiceProcess.LogLength(LogPath);
        var server = await ServiceProcess.LaunchAsync(
            ServiceName, _account.Wrap(argv, dieWithParent: true), Root, LogPath, PidFile, ProcessTable.SigInt);
        await server.WaitUntilReadyAsync(c => AcceptsConnectionsAsync(server.Pid, c), _options.StartTimeout, logOffset, ct);
        _server = server;
    }

    private async Task<bool> AcceptsConnectionsAsync(int pid, CancellationToken ct)
    {
        // Ask only once the postmaster says it is ready, as pg_ctl does: every earlier attempt would log a FATAL line.
        if (!PostmasterSaysReady(pid)) return false;
        try
        {
            await using var connection = new NpgsqlConnection(AdminConnectionString());
            await connection.OpenAsync(ct);
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return false; // not listening yet, or "the database system is starting up"
        }
    }

    /// <summary>postmaster.pid: line 1 the pid, line 8 the state ("starting", "ready", "stopping").</summary>
    private bool PostmasterSaysReady(int pid)
    {
        try
        {
            using var stream = new FileStream(Path.Combine(DataDirectory, "postmaster.pid"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            string[] lines = new StreamReader(stream).ReadToEnd().Split('\n');
            return lines.Length >= 8 && lines[0].Trim() == pid.ToString() && lines[7].Trim() == "ready";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private async Task CreateDatabaseAsync(CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString());
        await connection.OpenAsync(ct);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection) { Parameters = { new() { Value = Database } } };
        if (await exists.ExecuteScalarAsync(ct) is not null) return;
        try
        {
            // The name is validated (letters, digits, '_'), and quoted as an identifier.
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{Database}\"", connection);
            await create.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase) { }
    }

    private string AdminConnectionString() =>
        new NpgsqlConnectionStringBuilder(ConnectionStringFor("postgres")) { Pooling = false, Timeout = 5 }.ConnectionString;

    private async Task StopCoreAsync(CancellationToken ct)
    {
        if (_server is not { } server) return;
        _server = null;
        if (!server.HasExited)
        {
            // pg_ctl refuses root too: it runs as the server's account, and finds the postmaster by its postmaster.pid.
            try
            {
                await HelperCommand.RunAsync(
                    _account.Wrap([
                        Path.Combine(_binDirectory, "pg_ctl"), "stop", "-D", DataDirectory, "-m", "fast",
                        "-w", "-t", ((int)StopTimeout.TotalSeconds).ToString(), "-s",
                    ]),
                    Root, StopTimeout + TimeSpan.FromSeconds(10), ct);
            }
            catch (LocalServiceException) { } // pg_ctl hung: the server is killed below
        }
        if (!await server.WaitForExitAsync(TimeSpan.FromSeconds(10))) await server.KillAsync();
        server.Forget();
        ForgetPooledConnections();
    }

    /// <summary>Connections pooled for <see cref="ConnectionString"/> died with the server: the next open gets a new one.</summary>
    private void ForgetPooledConnections()
    {
        using var connection = new NpgsqlConnection(ConnectionString);
        NpgsqlConnection.ClearPool(connection);
    }

    /// <summary>A unix socket's path holds at most 107 bytes (sun_path); a deep data root then goes without one.</summary>
    private bool SocketPathFits() =>
        System.Text.Encoding.UTF8.GetByteCount(Path.Combine(Root, "run", ".s.PGSQL.65535")) <= 107;
}
