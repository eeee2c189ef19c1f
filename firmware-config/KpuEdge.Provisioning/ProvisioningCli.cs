using System.CommandLine;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;

namespace KpuEdge.Provisioning;

/// <summary>
/// The <c>kpu-provision</c> command tree. Built around a <see cref="TimeProvider"/> so tests run it in-process at a
/// fixed time. Exit codes: 0 done, 1 bad input or files, 2 a device refused a configuration bundle.
/// Messages of the commands run on the device (<c>device …</c>) are in Bahasa Indonesia, for the KPPS.
/// </summary>
public static class ProvisioningCli
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Refused = 2;

    public static RootCommand Create(TimeProvider time)
    {
        var root = new RootCommand("KPU provisioning: PKI (root and issuing CA), device certificates from CSRs, signed device configuration bundles, mosquitto ACLs.")
        {
            CaCommands.Create(time),
            DeviceCommands.Create(time),
            ConfigCommands.Create(time),
            MosquittoAcl.Command(),
        };
        return root;
    }

    /// <summary>Runs a command body; expected failures become one line on stderr and exit code 1, not a stack trace.</summary>
    internal static void SetRun(this Command command, Func<ParseResult, TextWriter, int> body) =>
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                return body(parse, output);
            }
            catch (ConfigBundleException e)
            {
                error.WriteLine($"{e.Message} [{e.Error}]");
                return Refused;
            }
            catch (Exception e) when (e is CertificateFormatException or CertificateRequestException or ArgumentException or IOException
                                          or InvalidDataException or FormatException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                error.WriteLine($"error: {e.Message}");
                return Failed;
            }
        });

    internal static Option<string> Required(string name, string description) => new(name) { Description = description, Required = true };

    internal static Option<string?> Optional(string name, string description) => new(name) { Description = description };
}
