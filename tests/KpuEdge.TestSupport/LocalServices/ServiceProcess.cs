using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace KpuEdge.TestSupport.LocalServices;

/// <summary>
/// One running server process, a child of this process: started with its output appended to a log file, its pid
/// written to a file in its data folder, and never left running — stopped on dispose by its owner, stopped here when
/// this process exits, killed by the kernel if this process dies without exiting, and killed by the next start on the
/// same data folder if all else failed.
/// </summary>
internal sealed class ServiceProcess
{
    private static readonly ConcurrentDictionary<ServiceProcess, byte> Running = new();
    private static readonly BlockingCollection<Action> LaunchQueue = new();

    static ServiceProcess()
    {
        // Servers are started from one thread that lives as long as the process: the parent-death signal setpriv
        // sets follows the thread that forked, and a thread-pool thread may retire while the server should go on.
        var launcher = new Thread(() => { foreach (var launch in LaunchQueue.GetConsumingEnumerable()) launch(); })
        {
            IsBackground = true,
            Name = "KpuEdge local services launcher",
        };
        launcher.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAllAtExit();
    }

    private readonly Process _process;
    private readonly int _gracefulSignal;
    private volatile bool _forgotten;

    private ServiceProcess(string name, Process process, string logPath, string pidFile, int gracefulSignal)
    {
        Name = name;
        _process = process;
        Pid = process.Id;
        LogPath = logPath;
        PidFile = pidFile;
        _gracefulSignal = gracefulSignal;
    }

    public string Name { get; }
    public int Pid { get; }
    public string LogPath { get; }
    public string PidFile { get; }
    public bool HasExited => _forgotten || _process.HasExited;

    /// <summary>
    /// Starts <paramref name="argv"/> with stdin from /dev/null and stdout and stderr appended to
    /// <paramref name="logPath"/>. The shell execs in place, so the pid is the server's own. The server gets a session
    /// of its own (util-linux setsid, which also execs in place): Ctrl+C in a terminal reaches the nodes that use it,
    /// not the server, so the nodes stop first and the server is stopped after them by its owner — Redis gone first
    /// left each node of `./kpu cluster` waiting up to a minute on its membership table.
    /// </summary>
    public static async Task<ServiceProcess> LaunchAsync(
        string name, IReadOnlyList<string> argv, string workingDirectory, string logPath, string pidFile, int gracefulSignal)
    {
        string command = $"exec setsid {string.Join(' ', argv.Select(ShellQuote))} </dev/null >>{ShellQuote(logPath)} 2>&1";
        var start = new ProcessStartInfo("/bin/sh") { WorkingDirectory = workingDirectory, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        start.Environment["LC_ALL"] = "C";

        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        LaunchQueue.Add(() =>
        {
            try { started.SetResult(Process.Start(start) ?? throw new LocalServiceException($"could not start {name}")); }
            catch (Exception e) { started.SetException(e); }
        });
        var process = await started.Task;

        var server = new ServiceProcess(name, process, logPath, pidFile, gracefulSignal);
        Running[server] = 0;
        await File.WriteAllTextAsync(pidFile, $"{server.Pid}\n");
        return server;
    }

    /// <summary>
    /// Polls <paramref name="ready"/> until it answers true. Fails with the end of this start's log when the server
    /// exits first or the deadline passes (then the server is killed).
    /// </summary>
    public async Task WaitUntilReadyAsync(Func<CancellationToken, Task<bool>> ready, TimeSpan timeout, long logOffset, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                if (_process.HasExited)
                {
                    int exitCode = _process.ExitCode;
                    Forget();
                    throw new LocalServiceException($"{Name} exited with code {exitCode} while starting", LogPath, LogTail(LogPath, logOffset));
                }
                if (await ready(ct)) return;
                if (clock.Elapsed > timeout)
                {
                    await KillAsync();
                    throw new LocalServiceException(
                        $"{Name} did not accept connections within {timeout.TotalSeconds:0} s (killed)", LogPath, LogTail(LogPath, logOffset));
                }
                await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
            }
        }
        catch (Exception) when (!_forgotten)
        {
            await KillAsync(); // cancelled, or the probe failed unexpectedly: no half-started server stays behind
            throw;
        }
    }

    public void Signal(int signal) => ProcessTable.Signal(Pid, signal);

    /// <summary>Waits for the server to exit; false if it still runs after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGKILLs the server and every process it started, as a crash would end them, and waits until all are gone.</summary>
    public async Task KillAsync()
    {
        if (_forgotten) return;
        if (!_process.HasExited) await ProcessTable.KillAndWaitAsync(ProcessTable.WithDescendants(Pid), TimeSpan.FromSeconds(30));
        await WaitForExitAsync(TimeSpan.FromSeconds(30));
        Forget();
    }

    /// <summary>Stops tracking an exited server; removes its pid file unless a later server already wrote its own there.</summary>
    public void Forget()
    {
        if (_forgotten) return;
        _forgotten = true;
        Running.TryRemove(this, out _);
        try
        {
            if (File.Exists(PidFile) && File.ReadAllText(PidFile).Trim() == Pid.ToString()) File.Delete(PidFile);
        }
        catch (IOException) { }
        _process.Dispose();
    }

    /// <summary>
    /// Kills a server a crashed run left behind: each pid named by <paramref name="pidFiles"/> that is still the server
    /// of that folder (it names itself in <paramref name="cwdPidFileName"/> in its working directory).
    /// </summary>
    public static async Task KillStaleAsync(IEnumerable<string> pidFiles, string cwdPidFileName)
    {
        foreach (string pidFile in pidFiles)
            if (ReadPid(pidFile) is { } pid && ProcessTable.IsServerOf(pid, cwdPidFileName))
                await ProcessTable.KillAndWaitAsync(ProcessTable.WithDescendants(pid), TimeSpan.FromSeconds(30));
    }

    /// <summary>The pid on the first line of a pid file, or null without one.</summary>
    public static int? ReadPid(string pidFile)
    {
        try
        {
            return int.TryParse(File.ReadLines(pidFile).FirstOrDefault()?.Trim(), out int pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static long LogLength(string logPath) => File.Exists(logPath) ? new FileInfo(logPath).Length : 0;

    /// <summary>The last lines the log got since <paramref name="offset"/> (this start's own).</summary>
    public static string LogTail(string logPath, long offset, int lines = 40)
    {
        try
        {
            using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var all = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return string.Join(Environment.NewLine, all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"(log unreadable: {e.Message})";
        }
    }

    private static string ShellQuote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>
    /// This process is ending with servers still running (an owner that never disposed): ask each to stop as it
    /// would on dispose, give them a few seconds together, then SIGKILL what is left.
    /// </summary>
    private static void StopAllAtExit()
    {
        var servers = Running.Keys.Where(s => !s.HasExited).ToList();
        foreach (var server in servers) server.Signal(server._gracefulSignal);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        foreach (var server in servers)
        {
            try
            {
                var left = deadline - DateTime.UtcNow;
                if (left > TimeSpan.Zero && server._process.WaitForExit(left)) continue;
            }
            catch (InvalidOperationException) { continue; } // its owner stopped and let go of it meanwhile
            foreach (int pid in ProcessTable.WithDescendants(server.Pid)) ProcessTable.Signal(pid, ProcessTable.SigKill);
        }
        foreach (var server in servers)
        {
            try { if (File.Exists(server.PidFile)) File.Delete(server.PidFile); } catch (IOException) { }
        }
    }
}
