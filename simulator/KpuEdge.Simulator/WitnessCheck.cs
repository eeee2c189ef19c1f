using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Edge.Commands;
using KpuEdge.Verify;
using Spectre.Console;
using KpuEdge.TestSupport;

namespace KpuEdge.Simulator;

/// <summary>
/// The end of the demo, from outside the cloud: what a party witness and an auditor can prove with kpu-verify's code,
/// holding only KPU's root certificate and the log's published key — witness QRs of some TPS, the whole log
/// recomputed — and the security events the bad input left for the NSOC.
/// </summary>
public static class WitnessCheck
{
    public static async Task<bool> RunAsync(IAnsiConsole console, HttpClient http, InProcessCloud cloud, IReadOnlyList<SimulatedDevice> devices,
        IResultsLedger ledger, CancellationToken cancellationToken)
    {
        var verifier = new Verifier(http);
        var anchors = new TrustAnchors(cloud.Pki.Pki.Root.Certificate.ToPem(), cloud.Pki.Pki.Issuing.Certificate.ToPem());
        int witnessed = 0, witnessedOk = 0;
        var failures = new List<string>();
        // A witness at every 500th TPS photographs the QR its device shows for the PPWP form.
        await foreach (var entry in ledger.ReadAllAsync(cancellationToken).Where((_, i) => i % 500 == 0).Take(10))
        {
            var signed = SignedSubmission.Decode(entry.Wire);
            var report = await verifier.VerifyQrPhotoAsync(cloud.ApiBase, cloud.Pki.LogKey, WitnessQrCommand.RenderPng(signed), anchors, cancellationToken);
            witnessed++;
            if (report.Ok) witnessedOk++;
            else failures.Add($"{signed.Submission.DeviceId} #{signed.Submission.Sequence} {signed.Submission.Contest.Slug()}: " +
                              (report.Error is { } error ? $"{error}: {report.ErrorDetail}" : string.Join("; ", report.Checks.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Error} {c.Detail}"))));
        }
        var audit = await verifier.AuditAsync(cloud.ApiBase, cloud.Pki.LogKey, cancellationToken: cancellationToken);
        var checkpoint = audit.Facts.GetValueOrDefault("tree_size") ?? cloud.Log.Size.ToString("N0");
        var events = await ledger.SecurityEventsAsync(0, 10_000, cancellationToken);
        var byKind = events.GroupBy(e => e.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
        bool ok = witnessedOk == witnessed && audit.Ok;
        console.MarkupLine(witnessedOk == witnessed
            ? $"[green]✓ Witnesses:[/] {witnessed} witness QRs read and checked with only KPU's root and the log key: signed by a genuine, unrevoked device of that TPS, and in the log."
            : $"[red]✗ Witnesses: {witnessed - witnessedOk} of {witnessed} witness QRs did not verify: {Markup.Escape(string.Join(" | ", failures))}[/]");
        console.MarkupLine(audit.Ok
            ? $"[green]✓ Audit:[/] all {checkpoint} transparency-log entries downloaded, every entry decoded, the recomputed root equals the signed checkpoint."
            : $"[red]✗ Audit failed: {Markup.Escape(string.Join("; ", audit.Checks.Where(c => !c.Ok).Select(c => c.Detail)))}[/]");
        console.MarkupLine($"Security events recorded for the NSOC: {events.Count} ({string.Join(", ", byKind)}); " +
                           $"critical: {events.Count(e => e.Severity == SecuritySeverity.Critical)}.");
        return ok;
    }
}
