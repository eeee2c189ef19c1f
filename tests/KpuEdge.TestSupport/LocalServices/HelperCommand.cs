using System.Diagnostics;
using System.Text;

namespace KpuEdge.TestSupport.LocalServices;

/// <summary>A short-lived tool (initdb, pg_ctl) run to completion with its output captured for error messages.</summary>
internal static class HelperCommand
{
    public static async Task<(int ExitCode, string Output)> RunAsync(
        IReadOnlyList<string> argv, string workingDirectory, TimeSpan timeout, CancellationToken ct)
    {
        var start = new ProcessStartInfo(argv[0])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in argv.Skip(1)) start.ArgumentList.Add(arg);
        start.Environment["LC_ALL"] = "C";

        using var process = Process.Start(start) ?? throw new LocalServiceException($"could not start {argv[0]}");
        process.StandardInput.Close();
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            ct.ThrowIfCancellationRequested();
            throw new LocalServiceException($"{string.Join(' ', argv)} did not finish within {timeout.TotalSeconds:0} s: {output}");
        }
        lock (output) return (process.ExitCode, output.ToString());
    }
}
