using System.CommandLine;

namespace KpuEdge.Provisioning.Tests;

/// <summary>A clock the test sets: certificates, CRLs and bundles get exact, reproducible times.</summary>
internal sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

internal sealed record CliResult(int Exit, string Output, string Error)
{
    public override string ToString() => $"exit {Exit}\n{Output}\n{Error}";
}

/// <summary>Runs kpu-provision in-process through its System.CommandLine root, capturing what it prints.</summary>
internal sealed class CliHarness(FixedTime time)
{
    public CliResult Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = ProvisioningCli.Create(time).Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return new CliResult(exit, output.ToString(), error.ToString());
    }

    public CliResult Ok(params string[] args)
    {
        var result = Run(args);
        Assert.True(result.Exit == 0, $"kpu-provision {string.Join(' ', args)}\n{result}");
        return result;
    }
}
