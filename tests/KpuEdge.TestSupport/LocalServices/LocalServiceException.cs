namespace KpuEdge.TestSupport.LocalServices;

/// <summary>A local service could not be started, stopped or reached; the message carries the end of its log.</summary>
public class LocalServiceException : InvalidOperationException
{
    public LocalServiceException(string message, string? logPath = null, string? logTail = null)
        : base(logTail is null ? message : $"{message}{Environment.NewLine}--- {logPath} (end) ---{Environment.NewLine}{logTail}")
    {
        LogPath = logPath;
        LogTail = logTail;
    }

    public string? LogPath { get; }
    public string? LogTail { get; }
}

/// <summary>The binaries of a service are not on this machine: says which Debian package brings them and how the project installs it.</summary>
public sealed class ServiceNotInstalledException : LocalServiceException
{
    public ServiceNotInstalledException(string service, string debianPackage, string lookedFor)
        : base($"{service} is not installed here (looked for {lookedFor}). It comes with the Debian package '{debianPackage}', " +
               $"which the project's own script installs: run ./kpu setup as root (or: sudo apt-get install {debianPackage}).")
    {
        Service = service;
        DebianPackage = debianPackage;
    }

    public string Service { get; }
    public string DebianPackage { get; }
}
