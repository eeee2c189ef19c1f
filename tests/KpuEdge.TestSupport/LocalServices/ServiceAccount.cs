namespace KpuEdge.TestSupport.LocalServices;

/// <summary>
/// The account a server runs as. PostgreSQL refuses to run as root, so as root it runs as the unprivileged
/// 'postgres' account that Debian's package creates (or 'nobody' without it), through util-linux's setpriv, which
/// execs in place: the server keeps the pid we started. As any other user it simply runs as that user.
/// </summary>
/// <remarks><see cref="Uid"/> and <see cref="Gid"/> mean something only when <see cref="SwitchesUser"/>.</remarks>
internal sealed record ServiceAccount(string Name, uint Uid, uint Gid, bool SwitchesUser)
{
    public static ServiceAccount Current { get; } = new(Environment.UserName, 0, 0, SwitchesUser: false);

    /// <summary>The current user, or as root the first of <paramref name="unprivileged"/> that exists.</summary>
    public static ServiceAccount Unprivileged(params string[] unprivileged)
    {
        if (!ProcessTable.IsRoot) return Current;
        foreach (string name in unprivileged)
            if (Lookup(name) is { } account) return account;
        throw new LocalServiceException(
            $"running as root, and none of the accounts {string.Join(", ", unprivileged)} exists to run the server unprivileged");
    }

    /// <summary>The argv that runs <paramref name="argv"/> as this account; <paramref name="dieWithParent"/> ties its life to the starting thread.</summary>
    public IReadOnlyList<string> Wrap(IReadOnlyList<string> argv, bool dieWithParent = false)
    {
        if (!SwitchesUser && !dieWithParent) return argv;
        var wrapped = new List<string> { "setpriv" };
        if (SwitchesUser) wrapped.AddRange([$"--reuid={Uid}", $"--regid={Gid}", "--clear-groups"]);
        // The kernel SIGKILLs the server if the thread that started it dies, i.e. when the test or simulator process
        // dies, even by SIGKILL, when no ProcessExit handler runs (ServiceProcess starts servers on a thread that lives as long as the process).
        if (dieWithParent) wrapped.AddRange(["--pdeathsig", "KILL"]);
        wrapped.Add("--");
        wrapped.AddRange(argv);
        return wrapped;
    }

    /// <summary>Makes the account own <paramref name="path"/> (a no-op for the current user).</summary>
    public void Own(string path)
    {
        if (SwitchesUser) ProcessTable.ChangeOwner(path, Uid, Gid);
    }

    private static ServiceAccount? Lookup(string name)
    {
        foreach (string line in File.ReadLines("/etc/passwd"))
        {
            string[] f = line.Split(':');
            if (f.Length >= 4 && f[0] == name && uint.TryParse(f[2], out uint uid) && uint.TryParse(f[3], out uint gid))
                return new ServiceAccount(name, uid, gid, SwitchesUser: true);
        }
        return null;
    }
}
