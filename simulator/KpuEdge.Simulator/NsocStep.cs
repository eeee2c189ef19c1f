using KpuEdge.Core.Elections;
using KpuEdge.Core.Security;
using KpuEdge.Nsoc;
using KpuEdge.Nsoc.Incidents;
using KpuEdge.Nsoc.Rules;
using KpuEdge.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// The demo's NSOC part: the fleet's telemetry with its faults into the cloud, the rules run, and what the wall must
/// show checked — the opened case, the skewed clock, the low batteries, the forged-certificate attempts as incidents.
/// Then the wall's address and a login are printed.
/// </summary>
public static class NsocStep
{
    /// <summary>The demo's rules: the built-in ones, but a device is silent after one minute (the demo is short).</summary>
    /// <summary>Connections with a certificate from another CA: enough for the broker's throttled reports to cross the rule's 20.</summary>
    public const int ForgedAttempts = 120;

    public const string DemoRules = """{ "evaluate_every_seconds": 2, "fleet_every_seconds": 5, "device_silent": { "after_minutes": 1 } }""";

    public static async Task<(bool Ok, FleetTelemetry Fleet)> RunAsync(
        IAnsiConsole console, InProcessCloud cloud, IReadOnlyList<SimulatedDevice> devices, SimulationTarget target, ElectionDefinition election, int seed,
        CancellationToken cancellationToken)
    {
        var fleet = new FleetTelemetry(devices, target, seed);
        await fleet.ConnectAsync(cancellationToken);
        await fleet.RoundAsync(cancellationToken);
        int refused = await fleet.ForgedCertificateAttemptsAsync(election, cloud.Pki.Pki.Trust, ForgedAttempts, cancellationToken);
        await fleet.RoundAsync(cancellationToken);
        foreach (var (how, count) in fleet.RefusedHow) console.MarkupLine($"  forged: {count} × {Markup.Escape(how)}");

        // Let the ingest take the reports in, then have the rules judge everything now.
        var telemetry = cloud.Services.GetRequiredService<KpuEdge.Cloud.Ingest.TelemetryIngest>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (telemetry.Accepted + telemetry.Refused + telemetry.Replayed < fleet.ReportsSent && DateTime.UtcNow < deadline)
            await Task.Delay(200, cancellationToken);
        await Task.Delay(1500, cancellationToken); // the broker's refusals reach the ledger in the recorder's next batch
        var grains = cloud.Services.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<INsocGrain>(0).EvaluateNow();

        var store = cloud.Services.GetRequiredService<IncidentStore>();
        var open = await store.ListAsync(false, 100_000);
        bool tamper = open.Any(i => i.Rule == RuleCodes.Tamper && i.DeviceId == fleet.Tampered?.Identity.DeviceId && i.Severity == SecuritySeverity.Critical);
        bool skew = open.Any(i => i.Rule == RuleCodes.ClockSkew && i.DeviceId == fleet.Skewed?.Identity.DeviceId);
        int battery = open.Count(i => i.Rule == RuleCodes.BatteryLow);
        bool certificates = open.Any(i => i.Rule == RuleCodes.CertificateRefusals);

        var table = new Table().Title("NSOC: the fleet's health on the wall").AddColumn("").AddColumn(new TableColumn("").RightAligned()).AddColumn("As expected");
        string Yes(bool b) => b ? "[green]yes[/]" : "[red]NO[/]";
        table.AddRow("Health reports sent / taken in", $"{fleet.ReportsSent:N0} / {telemetry.Accepted:N0}", Yes(telemetry.Accepted == fleet.ReportsSent));
        table.AddRow("Bytes per report (signed CBOR)", $"{(fleet.ReportsSent == 0 ? 0 : fleet.BytesSent / fleet.ReportsSent):N0}", "");
        table.AddRow("Case opened → critical incident", Markup.Escape(fleet.Tampered?.Identity.DeviceId ?? "-"), Yes(tamper));
        table.AddRow("Clock 5 min off → incident", Markup.Escape(fleet.Skewed?.Identity.DeviceId ?? "-"), Yes(skew));
        table.AddRow("Batteries below 11.6 V → incidents", $"{battery} for {fleet.LowBatteryNow} low", Yes(battery == fleet.LowBatteryNow));
        table.AddRow($"Certificate from another CA, {ForgedAttempts} tries → incident", $"{refused} refused", Yes(certificates && refused == ForgedAttempts));
        table.AddRow("Going silent after their first report", $"{fleet.Silent:N0} devices (on the wall after 1 min)", "");
        table.AddRow("Open incidents (critical / warning / info)",
            $"{open.Count(i => i.Severity == SecuritySeverity.Critical)} / {open.Count(i => i.Severity == SecuritySeverity.Warning)} / {open.Count(i => i.Severity == SecuritySeverity.Info)}", "");
        console.Write(table);

        var options = cloud.Services.GetRequiredService<IOptions<NsocOptions>>().Value;
        string password = File.Exists(options.AdminPasswordFile) ? (await File.ReadAllTextAsync(options.AdminPasswordFile, cancellationToken)).Trim() : "(see the log)";
        console.MarkupLine($"[bold]NSOC wall:[/] {Markup.Escape(options.WallUrl)}/nsoc/ — login [bold]admin[/] / [bold]{Markup.Escape(password)}[/] " +
                           $"(also in {Markup.Escape(options.AdminPasswordFile)}); telemetry history in InfluxDB at {Markup.Escape(options.InfluxUrl)}.");
        return (tamper && skew && battery == fleet.LowBatteryNow && certificates && refused == ForgedAttempts && telemetry.Accepted == fleet.ReportsSent, fleet);
    }

    /// <summary>Reports every <paramref name="interval"/> until cancelled (the wall stays alive for whoever looks at it).</summary>
    public static async Task KeepReportingAsync(FleetTelemetry fleet, TimeSpan interval, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(interval, cancellationToken);
                await fleet.RoundAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) { }
    }
}
