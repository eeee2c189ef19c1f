using System.Runtime.InteropServices;

namespace KpuEdge.TestSupport.LocalServices;

/// <summary>The few Linux process facts the local services need: signals, the process tree and ownership, read from /proc and libc.</summary>
internal static partial class ProcessTable
{
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    public static bool IsRoot => geteuid() == 0;

    /// <summary>Sends a signal; false when the process is gone (or not ours to signal).</summary>
    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    public static void ChangeOwner(string path, uint uid, uint gid)
    {
        if (chown(path, uid, gid) != 0)
            throw new IOException($"chown {uid}:{gid} {path} failed (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>Adds search (not read) permission for others to a folder.</summary>
    public static void AllowOthersToSearch(string directory)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the local services run on Linux");
        var mode = File.GetUnixFileMode(directory);
        if (!mode.HasFlag(UnixFileMode.OtherExecute)) File.SetUnixFileMode(directory, mode | UnixFileMode.OtherExecute);
    }

    /// <summary>The folders on the way to <paramref name="path"/> (itself included) that others may not search.</summary>
    public static IReadOnlyList<string> FoldersClosedToOthers(string path)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the local services run on Linux");
        var closed = new List<string>();
        for (string? dir = Path.GetFullPath(path); dir is not null; dir = Path.GetDirectoryName(dir))
            if (Directory.Exists(dir) && !File.GetUnixFileMode(dir).HasFlag(UnixFileMode.OtherExecute)) closed.Add(dir);
        closed.Reverse();
        return closed;
    }

    /// <summary>Gone: no such process, or a zombie waiting for whoever reaps it (it holds no memory, ports or files any more).</summary>
    public static bool IsGone(int pid) => Stat(pid) is not { } stat || stat.State is 'Z' or 'X';

    /// <summary>The process and all its descendants, the process first (read before any is killed: orphans are re-parented).</summary>
    public static IReadOnlyList<int> WithDescendants(int pid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int child) || Stat(child) is not { } stat) continue;
            if (!children.TryGetValue(stat.ParentPid, out var list)) children[stat.ParentPid] = list = [];
            list.Add(child);
        }
        var all = new List<int> { pid };
        for (int i = 0; i < all.Count; i++)
            if (children.TryGetValue(all[i], out var list)) all.AddRange(list);
        return all;
    }

    /// <summary>
    /// Whether <paramref name="pid"/> is the server that wrote <paramref name="pidFileName"/> in its own working
    /// directory: that file, read through /proc/pid/cwd, names the same pid. A recycled pid of another program fails
    /// this, so a stale pid file never gets an unrelated process killed.
    /// </summary>
    public static bool IsServerOf(int pid, string pidFileName)
    {
        return ServiceProcess.ReadPid($"/proc/{pid}/cwd/{pidFileName}") == pid && !IsGone(pid);
    }

    /// <summary>SIGKILLs the processes and waits until each is gone (polling /proc up to <paramref name="timeout"/>).</summary>
    public static async Task KillAndWaitAsync(IReadOnlyList<int> pids, TimeSpan timeout)
    {
        foreach (int pid in pids) Signal(pid, SigKill);
        var deadline = DateTime.UtcNow + timeout;
        while (pids.Any(pid => !IsGone(pid)))
        {
            if (DateTime.UtcNow > deadline)
                throw new LocalServiceException(
                    $"processes {string.Join(", ", pids.Where(p => !IsGone(p)))} still run {timeout.TotalSeconds:0} s after SIGKILL");
            await Task.Delay(20);
        }
    }

    private readonly record struct ProcessStat(char State, int ParentPid);

    private static ProcessStat? Stat(int pid)
    {
        try
        {
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read from the last ')'.
            string text = File.ReadAllText($"/proc/{pid}/stat");
            int close = text.LastIndexOf(')');
            string[] fields = text[(close + 2)..].Split(' ');
            return new ProcessStat(fields[0][0], int.Parse(fields[1]));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, uint owner, uint group);
}
