using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.TestSupport;
using KpuEdge.Verify;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// The demo's public view: the public tree written from the log at a fresh checkpoint, its national and provincial
/// files equal to the live recap for every contest, the exports (NIST SP 1500-100, CSV) answering and naming that
/// checkpoint, and a province's CSV proven against the log (<c>kpu-verify export</c>). The portal at the cloud's
/// address reads the same files.
/// </summary>
public static class PublicStep
{
    public static async Task<bool> RunAsync(IAnsiConsole console, HttpClient http, InProcessCloud cloud, IReadOnlyList<RegionCode> provinces,
        CancellationToken cancellationToken)
    {
        var build = await cloud.BuildPublicTreeAsync();
        var problems = new List<string>();
        foreach (var contest in Contests.All)
        {
            foreach (var region in provinces.Prepend(RegionCode.Nasional))
            {
                var file = await GetAsync(http, region.IsNasional ? $"pemilu/hhcw/{contest.Slug()}.json"
                    : $"pemilu/hhcw/{contest.Slug()}/{region}.json", cancellationToken);
                var live = await GetAsync(http, $"api/v1/results/{contest.Slug()}/{region}", cancellationToken);
                long Tps(JsonElement? e) => e?.GetProperty("progres").GetProperty("progres").GetInt64() ?? 0;
                long Sah(JsonElement? e) => e?.GetProperty("administrasi").GetProperty("suara_sah").GetInt64() ?? 0;
                if (Tps(file) != Tps(live) || Sah(file) != Sah(live))
                    problems.Add($"{contest.Slug()} {region}: the public tree has {Tps(file)} TPS / {Sah(file)} valid votes, the recap {Tps(live)} / {Sah(live)}");
            }
        }
        var nist = await GetAsync(http, "api/v1/export/nist/ppwp/0", cancellationToken);
        using var csv = await http.GetAsync($"api/v1/export/csv/ppwp/{provinces[0]}", cancellationToken);
        bool exports = nist?.GetProperty("Notes").GetString()?.Contains($"size {build?.ToSize}") == true && csv.IsSuccessStatusCode;
        if (!exports) problems.Add("the exports did not name the tree's checkpoint");
        // As a monitor would: the province's CSV recounted from the log with kpu-verify's own code and the log key only.
        else if (await new Verifier(http).VerifyExportAsync(cloud.ApiBase, cloud.Pki.LogKey, await csv.Content.ReadAsStringAsync(cancellationToken),
                     cancellationToken: cancellationToken) is { Ok: false } report)
            problems.Add("kpu-verify export: " + string.Join("; ", report.Checks.Where(c => !c.Ok).Select(c => c.Detail)) + report.ErrorDetail);

        console.MarkupLine(problems.Count == 0
            ? $"[green]Public tree[/] at log checkpoint {build?.ToSize:N0}: {build?.TpsFiles:N0} TPS files, {build?.RegionFiles:N0} region files in " +
              $"{build?.Elapsed.TotalSeconds:F1} s, nation and provinces equal to the recap (5 contests); NIST and CSV exports name the checkpoint, " +
              $"and kpu-verify recounts the CSV from the log. " +
              $"The portal: {cloud.ApiBase}"
            : "[red]Public tree:[/] " + Markup.Escape(string.Join("; ", problems.Take(5))));
        return problems.Count == 0;
    }

    private static async Task<JsonElement?> GetAsync(HttpClient http, string path, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(path, cancellationToken);
        if (!response.IsSuccessStatusCode) return null;
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken)).RootElement.Clone();
    }
}
