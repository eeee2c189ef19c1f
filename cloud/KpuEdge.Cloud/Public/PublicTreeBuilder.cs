using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using KpuEdge.Cloud.Api;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Anomalies;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Crypto.Transparency;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Public;

/// <summary>What one build of the public tree did.</summary>
[GenerateSerializer, Immutable, Alias("kpu.PublicTreeBuild")]
public sealed record PublicTreeBuild(
    [property: Id(0)] long FromSize, [property: Id(1)] long ToSize, [property: Id(2)] int TpsFiles, [property: Id(3)] int RegionFiles,
    [property: Id(4)] TimeSpan Elapsed);

/// <summary>
/// Writes the public tree (Sirekap's static JSON layout, <see cref="PublicTreePaths"/>) as of a signed checkpoint: every
/// TPS file shows the form counted among the log's first <c>size</c> entries — the device's newest version, or the
/// PPK's correction — and every region file the sum of its rows. A build reads only the log entries added since the
/// last one, rewrites the TPS they name and the regions above them, and names its checkpoint in each file it writes
/// and in <c>pemilu/snapshot.json</c>: the tree is a function of the log, so anyone holding the log can rebuild and
/// compare it. Reads of the tree never touch the ledger.
/// </summary>
public sealed class PublicTreeBuilder(
    IResultsLedger ledger, RecapContext context, KpuEdge.Nsoc.Rules.NsocRules rules, IOptions<CloudOptions> options,
    TimeProvider time, ILogger<PublicTreeBuilder> logger)
{
    /// <summary>Points of a region's progress curve kept; older points are thinned to every other one beyond it.</summary>
    public const int CurvePoints = 240;

    /// <summary>A TPS file lists this many of the newest versions; the rest are at the API's versions URL.</summary>
    public const int VersionsListed = ResultsApi.VersionsOnPage;

    private static readonly JsonSerializerOptions Json = KpuJson.Api;
    /// <summary>The NSOC's anomaly thresholds (nsoc/rules.json): the public flags and the operators' alerts are one set of rules.</summary>
    private readonly AnomalyThresholds _thresholds = rules.NumbersAnomaly.Thresholds;

    /// <summary>Folders known to exist (a build writes thousands of files into the same few).</summary>
    private readonly ConcurrentDictionary<string, byte> _folders = new(StringComparer.Ordinal);

    /// <summary>The tree's folder, made absolute once (each file served is looked up under it).</summary>
    public string Root { get; } = Path.GetFullPath(options.Value.PublicDirectory);

    /// <summary>Brings the tree up to <paramref name="checkpoint"/>; null when it already is.</summary>
    public async Task<PublicTreeBuild?> BuildAsync(StoredCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        var manifest = ReadManifest();
        long from = manifest?["checkpoint"]?["size"]?.GetValue<long>() ?? 0;
        if (from >= checkpoint.Size) return null;
        var started = time.GetTimestamp();
        var buildStart = time.GetUtcNow();
        if (from == 0) WriteListings();

        // Each TPS's form of each contest that a new log entry names; a TPS's other contests stay as written.
        var dirty = await DirtyFormsAsync(from, checkpoint.Size, cancellationToken);
        // Photos are not in the log: a form whose pages arrived since the last build lists them now, and one whose pages
        // are still missing when the grace has passed since its numbers is written again, flagged.
        if (manifest?["built_at"]?.GetValue<DateTimeOffset>() is { } lastBuild)
            foreach (var form in await ledger.FormsWithImagesStoredSinceAsync(lastBuild - TimeSpan.FromSeconds(5), cancellationToken))
                if (context.Tree.Contains(form.Tps)) dirty.Add(form);
        var history = History(manifest, checkpoint);
        if (manifest?["checkpoint"]?["signed_at"]?.GetValue<DateTimeOffset>() is { } lastSigned)
        {
            var grace = TimeSpan.FromMinutes(_thresholds.PhotosGraceMinutes);
            dirty.UnionWith(await PhotosDueAsync(SizeAt(history, lastSigned - grace), SizeAt(history, checkpoint.SignedAt - grace), cancellationToken));
        }

        var stamp = new Stamp(checkpoint.Size, Convert.ToHexStringLower(checkpoint.Root), Ts(checkpoint.SignedAt), checkpoint.SignedAt);
        var changed = new ConcurrentDictionary<(ContestId, RegionCode), ConcurrentDictionary<RegionCode, PublicTotals>>();
        var flags = new ConcurrentDictionary<(ContestId, RegionCode), ConcurrentDictionary<TpsCode, IReadOnlyList<Anomaly>>>();
        var patterns = new ConcurrentDictionary<(ContestId, RegionCode), RegionPattern.Shares?>();
        int tpsFiles = 0;
        await Parallel.ForEachAsync(dirty.GroupBy(f => f.Tps.Desa.Parent),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
            async (kecamatan, ct) =>
            {
                var statements = (await ledger.StatementsForKecamatanAsync(kecamatan.Key, ct)).Where(s => s.LogIndex < checkpoint.Size).ToList();
                foreach (var desa in kecamatan.GroupBy(f => f.Tps.Desa))
                {
                    var forms = (await ledger.ForDesaAsync(desa.Key, ct)).Where(e => e.LogIndex < checkpoint.Size).ToLookup(e => e.Tps);
                    var desaImages = (await ledger.ImagesForDesaAsync(desa.Key, ct)).ToLookup(p => p.Tps);
                    foreach (var contests in desa.GroupBy(f => f.Tps, f => f.Contest))
                    {
                        var tps = contests.Key;
                        var images = desaImages[tps].ToList();
                        foreach (var (contest, totals, anomalies) in await WriteTpsAsync(tps, forms[tps].Where(f => contests.Contains(f.Contest)).ToList(), statements, images, stamp,
                                     c => patterns.GetOrAdd((c, tps.Region.AncestorAt(RegionLevel.KabKota)), key => PatternOf(key.Item1, key.Item2))))
                        {
                            changed.GetOrAdd((contest, desa.Key), _ => new())[tps.Region] = totals;
                            flags.GetOrAdd((contest, tps.Region.AncestorAt(RegionLevel.Provinsi)), _ => new())[tps] = anomalies;
                            Interlocked.Increment(ref tpsFiles);
                        }
                    }
                }
            });

        int regionFiles = 0;
        // Bottom-up: each level's changed regions rewrite their rows in their parents.
        for (var level = RegionLevel.Desa; level >= RegionLevel.Nasional; level--)
        {
            var atLevel = changed.Where(c => c.Key.Item2.Level == level).ToList();
            var next = new ConcurrentDictionary<(ContestId, RegionCode), ConcurrentDictionary<RegionCode, PublicTotals>>();
            Parallel.ForEach(atLevel, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
                entry =>
                {
                    var (contest, region) = entry.Key;
                    var totals = WriteRegion(contest, region, entry.Value, stamp);
                    Interlocked.Increment(ref regionFiles);
                    if (!region.IsNasional) next.GetOrAdd((contest, region.Parent), _ => new())[region] = totals;
                });
            foreach (var (key, rows) in next) changed[key] = rows;
            foreach (var done in atLevel) changed.TryRemove(done.Key, out _);
        }

        foreach (var contest in flags.Keys.Select(k => k.Item1).Distinct())
            WriteFlags(contest, flags.Where(f => f.Key.Item1 == contest).ToDictionary(f => f.Key.Item2, f => f.Value), stamp);

        WriteManifest(checkpoint, buildStart, history);
        var build = new PublicTreeBuild(from, checkpoint.Size, tpsFiles, regionFiles, time.GetElapsedTime(started));
        logger.LogInformation("Public tree at checkpoint {Size}: {TpsFiles} TPS files, {RegionFiles} region files in {Elapsed}",
            build.ToSize, build.TpsFiles, build.RegionFiles, build.Elapsed);
        return build;
    }

    /// <summary>The forms (TPS and contest) named by log entries [from, to): the submissions, and the forms PPK statements speak of.</summary>
    private async Task<HashSet<(TpsCode Tps, ContestId Contest)>> DirtyFormsAsync(long from, long to, CancellationToken cancellationToken)
    {
        var dirty = new HashSet<(TpsCode Tps, ContestId Contest)>();
        await foreach (var entry in ledger.ReadLogAsync(from, to, cancellationToken))
        {
            switch ((LogEntryType)entry[0])
            {
                case LogEntryType.Submission:
                    var submission = SignedSubmission.Decode(entry.AsSpan(1).ToArray()).Submission;
                    dirty.Add((submission.Tps, submission.Contest));
                    break;
                case LogEntryType.PpkStatement when SignedPpkStatement.Decode(entry.AsSpan(1).ToArray()).Statement is { } s and not KecamatanRecap:
                    foreach (var form in s.Forms) dirty.Add((form.Tps, form.Contest));
                    break;
            }
        }
        dirty.RemoveWhere(f => !context.Tree.Contains(f.Tps));
        return dirty;
    }

    /// <summary>Writes the TPS's file of every contest it has a form of; returns each contest's counted totals.</summary>
    private async Task<List<(ContestId, PublicTotals, IReadOnlyList<Anomaly>)>> WriteTpsAsync(TpsCode tps, List<LedgerEntry> forms,
        List<StoredStatement> statements, IReadOnlyList<StoredImagePage> images, Stamp stamp, Func<ContestId, RegionPattern.Shares?> pattern)
    {
        var written = new List<(ContestId, PublicTotals, IReadOnlyList<Anomaly>)>();
        foreach (var byContest in forms.GroupBy(f => f.Contest))
        {
            var contest = byContest.Key;
            if (context.Ballots.For(contest, tps) is not { } ballot) continue;
            var versions = byContest.OrderBy(f => new FormVersion(f.Sequence, f.Position)).ToList();
            var current = versions[^1];
            var signed = SignedSubmission.Decode(current.Wire);
            var s = signed.Submission;
            var ppk = PpkFormStatus.Of(tps, contest, current.Hash, statements, x => x.Signed);
            var tally = ppk.Correction?.Tally ?? s.Tally;
            var counted = ContestTotals.FromTally(tally, ballot);
            var anomalies = TallyAnomalies.Check(tally, _thresholds, pattern(contest)).ToList();
            if (ppk.Correction is { } correction && TallyAnomalies.CheckCorrection(s.Tally, correction.Tally, _thresholds) is { } far)
                anomalies.Add(far);
            var pages = images.Where(p => p.ImageHash == s.ImageHash && p.Contest == contest).ToList();
            if (TallyAnomalies.CheckPhotos(pages.Count, s.ImageHash.IsEmpty ? 0 : pages.FirstOrDefault()?.Pages ?? 0, stamp.SignedAt - current.ReceivedAt,
                    _thresholds) is { } missing)
                anomalies.Add(missing);

            var chart = new JsonObject();
            foreach (var (key, votes) in counted.Chart()) chart[context.Election.PublicKey(contest, key)] = votes;
            chart["null"] = null;
            var file = new JsonObject
            {
                ["mode"] = "hhcw",
                ["kode"] = tps.Value,
                ["contest"] = contest.Slug(),
                ["chart"] = chart,
                ["images"] = ImageUrls(tps, contest, s.ImageHash, images),
                ["administrasi"] = Administrasi(tally),
                ["psu"] = null,
                ["ts"] = Ts(current.ReceivedAt),
                ["status_suara"] = true,
                ["status_adm"] = true,
                ["counted_by"] = ppk.CountedByPpk ? "ppk" : "device",
                ["submission"] = JsonSerializer.SerializeToNode(new
                {
                    hash = current.Hash.ToString(),
                    log_index = current.LogIndex,
                    device_id = s.DeviceId,
                    sequence = s.Sequence,
                    device_time = s.DeviceTime,
                    received_at = current.ReceivedAt,
                    image_hash = s.ImageHash.ToString(),
                    correction_reason = s.CorrectionReason,
                    // The ingest logs no form whose signature fails against its device's registered certificate (and a
                    // device id never gets another): every form here verified. The reader's browser checks it again.
                    signature = "verified",
                    certificate_url = $"/api/v1/devices/{Uri.EscapeDataString(s.DeviceId)}/certificate",
                    // The exact signed bytes: a reader's browser checks the signature and the log's inclusion of these.
                    wire = Convert.ToBase64String(current.Wire),
                }, Json),
                ["ppk"] = JsonSerializer.SerializeToNode(new
                {
                    status = PpkFormStatus.Text(ppk.Review),
                    counted = ppk.Counted?.ToString(),
                    // A correction's signed bytes, for the reader's browser to check the numbers it counts; a verification
                    // may name 500 forms, and is at the API (statements/{hash}) rather than copied into each of them.
                    statements = ppk.Statements.Select(x => PpkApi.StatementJson(x, withWire: x.Kind == PpkStatementKind.Correction)),
                }, Json),
                ["versions"] = JsonSerializer.SerializeToNode(versions.TakeLast(VersionsListed).Select(v => new
                {
                    hash = v.Hash.ToString(), log_index = v.LogIndex, sequence = v.Sequence, received_at = v.ReceivedAt,
                    correction_reason = SignedSubmission.Decode(v.Wire).Submission.CorrectionReason,
                }), Json),
                ["versions_total"] = versions.Count,
                ["versions_url"] = $"/api/v1/results/{contest.Slug()}/{tps}/versions",
                ["anomali"] = JsonSerializer.SerializeToNode(anomalies.Select(a => new { rule = a.Rule, detail = a.Detail }), Json),
                ["checkpoint"] = stamp.Json(),
            };
            Write(PublicTreePaths.Tps(contest, tps), file, gzipTwin: false);
            written.Add((contest, PublicTotals.Of(counted, contest, context.Election), anomalies));
        }
        return written;
    }

    /// <summary>Rewrites a region's file with the new rows of its changed children; returns the region's new totals.</summary>
    private PublicTotals WriteRegion(ContestId contest, RegionCode region, IReadOnlyDictionary<RegionCode, PublicTotals> rows, Stamp stamp)
    {
        var relative = PublicTreePaths.Region(contest, region);
        var file = Read(relative) ?? NewRegionFile(contest, region);
        var table = file["table"]!.AsObject();
        foreach (var (child, totals) in rows) table[child.Value] = totals.Row(context.TpsExpected(contest, child));
        var sum = PublicTotals.SumOf(table, contest, context.Election);
        long expected = context.TpsExpected(contest, region);
        file["chart"] = sum.Chart(expected);
        file["progres"] = new JsonObject { ["total"] = expected, ["progres"] = sum.TpsReported };
        file["administrasi"] = sum.AdministrasiJson();
        file["ts"] = stamp.Ts;
        file["checkpoint"] = stamp.Json();
        var curve = file["kurva"] as JsonArray ?? [];
        if (curve.LastOrDefault() is not JsonArray last || last[1]!.GetValue<long>() != sum.TpsReported)
            curve.Add(new JsonArray(stamp.Ts, sum.TpsReported));
        if (curve.Count > CurvePoints) curve = Thin(curve);
        file["kurva"] = curve;
        // A desa's file (83,000 of them a contest, rewritten as their TPS report) goes without a twin, as TPS files do.
        Write(relative, file, gzipTwin: region.Level < RegionLevel.Desa);
        return sum;
    }

    private JsonObject NewRegionFile(ContestId contest, RegionCode region)
    {
        var table = new JsonObject();
        foreach (var child in context.Tree.ChildrenOf(region))
            table[child.Value] = PublicTotals.EmptyRow(contest, context.Election, context.TpsExpected(contest, child));
        return new JsonObject
        {
            ["mode"] = "hhcw",
            ["kode"] = region.ToString(),
            ["nama"] = context.Tree[region].Name,
            ["tingkat"] = region.Level.ToString().ToLowerInvariant(),
            ["contest"] = contest.Slug(),
            ["chart"] = null,
            ["table"] = table,
        };
    }

    /// <summary>Keeps the first and last points and every other one between: the curve's shape, in half the points.</summary>
    private static JsonArray Thin(JsonArray curve)
    {
        var kept = new JsonArray();
        for (int i = 0; i < curve.Count; i++)
            if (i % 2 == 0 || i == curve.Count - 1) kept.Add(curve[i]!.DeepClone());
        return kept;
    }

    /// <summary>The region listings Sirekap publishes under <c>wilayah/</c>: every region's children, with names.</summary>
    private void WriteListings()
    {
        var regions = new List<RegionCode> { RegionCode.Nasional };
        for (int i = 0; i < regions.Count; i++)
        {
            var region = regions[i];
            if (region.Level == RegionLevel.Desa)
            {
                var tpsList = new JsonArray();
                foreach (var tps in context.Tree.TpsIn(region))
                    tpsList.Add(new JsonObject { ["nama"] = $"TPS {tps.Number:D3}", ["id"] = tps.Value, ["kode"] = tps.Value, ["tingkat"] = 6 });
                Write(PublicTreePaths.Wilayah(region), tpsList, gzipTwin: false);
                continue;
            }
            var list = new JsonArray();
            foreach (var child in context.Tree.ChildrenOf(region))
            {
                list.Add(new JsonObject { ["nama"] = context.Tree[child].Name, ["id"] = child.Value, ["kode"] = child.Value, ["tingkat"] = (int)child.Level });
                regions.Add(child);
            }
            Write(PublicTreePaths.Wilayah(region), list, gzipTwin: region.Level < RegionLevel.Kecamatan);
        }
    }

    private static JsonArray ImageUrls(TpsCode tps, ContestId contest, Sha256Hash imageHash, IReadOnlyList<StoredImagePage> stored)
    {
        var urls = new JsonArray();
        var pages = stored.Where(p => p.ImageHash == imageHash && p.Contest == contest).ToList();
        if (imageHash.IsEmpty || pages.Count == 0) return urls;
        for (int page = 0; page < pages[0].Pages; page++)
            urls.Add(pages.Any(p => p.Page == page) ? $"/api/v1/images/{tps}/{contest.Slug()}/{imageHash}/{page + 1}" : null);
        return urls;
    }

    /// <summary>Sirekap's <c>administrasi</c> of a TPS: every voter count as total (<c>_j</c>), men (<c>_l</c>) and women (<c>_p</c>).</summary>
    private static JsonObject Administrasi(KpuEdge.Core.Tally.C1Tally t)
    {
        var adm = new JsonObject { ["suara_sah"] = t.SuaraSah, ["suara_tidak_sah"] = t.SuaraTidakSah, ["suara_total"] = t.SuaraTotal };
        void Add(string name, KpuEdge.Core.Tally.GenderCount count)
        {
            adm[$"{name}_j"] = count.Total;
            adm[$"{name}_l"] = count.L;
            adm[$"{name}_p"] = count.P;
        }
        Add("pemilih_dpt", t.Dpt);
        Add("pengguna_dpt", t.PenggunaDpt);
        Add("pengguna_dptb", t.PenggunaDptb);
        Add("pengguna_non_dpt", t.PenggunaDpk);
        Add("pengguna_total", t.PenggunaTotal);
        return adm;
    }

    private JsonObject? ReadManifest() => Read(PublicTreePaths.Manifest);

    private void WriteManifest(StoredCheckpoint checkpoint, DateTimeOffset builtAt, JsonArray history) => Write(PublicTreePaths.Manifest, new JsonObject
    {
        ["checkpoint"] = new JsonObject
        {
            ["size"] = checkpoint.Size, ["root"] = Convert.ToHexStringLower(checkpoint.Root), ["note"] = checkpoint.Note, ["signed_at"] = checkpoint.SignedAt,
        },
        ["ts"] = Ts(checkpoint.SignedAt),
        ["built_at"] = builtAt,
        ["election"] = context.Election.ElectionId,
        // The log's size at each recent build: which forms crossed the photos' grace since the last one.
        ["history"] = history,
    });

    /// <summary>The builds' [size, signed_at] of the last photos' grace (and the one before it), with this build's.</summary>
    private JsonArray History(JsonObject? manifest, StoredCheckpoint checkpoint)
    {
        var horizon = checkpoint.SignedAt - TimeSpan.FromMinutes(_thresholds.PhotosGraceMinutes);
        var points = (manifest?["history"] as JsonArray ?? [])
            .Select(p => (Size: p![0]!.GetValue<long>(), At: p[1]!.GetValue<DateTimeOffset>())).ToList();
        int firstKept = Math.Max(0, points.FindLastIndex(p => p.At <= horizon));
        var kept = new JsonArray();
        foreach (var (size, at) in points.Skip(firstKept)) kept.Add(new JsonArray(size, at));
        kept.Add(new JsonArray(checkpoint.Size, checkpoint.SignedAt));
        return kept;
    }

    /// <summary>The log's size at the last build signed at or before <paramref name="at"/> (0 before the first).</summary>
    private static long SizeAt(JsonArray history, DateTimeOffset at) =>
        history.Select(p => (Size: p![0]!.GetValue<long>(), At: p[1]!.GetValue<DateTimeOffset>())).Where(p => p.At <= at).Select(p => p.Size).DefaultIfEmpty(0).Max();

    /// <summary>The forms logged in [from, to) whose photo pages are not all stored.</summary>
    private async Task<HashSet<(TpsCode Tps, ContestId Contest)>> PhotosDueAsync(long from, long to, CancellationToken cancellationToken)
    {
        var due = new HashSet<(TpsCode Tps, ContestId Contest)>();
        if (to <= from) return due;
        await foreach (var entry in ledger.ReadLogAsync(from, to, cancellationToken))
        {
            if ((LogEntryType)entry[0] != LogEntryType.Submission) continue;
            var form = SignedSubmission.Decode(entry.AsSpan(1).ToArray()).Submission;
            if (due.Contains((form.Tps, form.Contest)) || !context.Tree.Contains(form.Tps)) continue;
            var pages = form.ImageHash.IsEmpty ? [] : await ledger.ImagePagesAsync(form.ImageHash, cancellationToken);
            if (pages.Count == 0 || pages.Count < pages[0].Pages) due.Add((form.Tps, form.Contest));
        }
        return due;
    }

    /// <summary>The kab/kota's shares as last published: the region a TPS's pattern and turnout are compared with.</summary>
    private RegionPattern.Shares? PatternOf(ContestId contest, RegionCode kabKota)
    {
        if (Read(PublicTreePaths.Region(contest, kabKota)) is not { } file || file["chart"] is not JsonObject chart) return null;
        var byChoice = new Dictionary<int, long>();
        foreach (var (key, value) in chart)
        {
            if (key == "persen" || value is null) continue;
            int? number = contest == ContestId.Ppwp ? context.Election.PpwpPairs.FirstOrDefault(p => p.PublicKey == key)?.Number
                : contest.IsPartyContest() ? context.Election.Parties.FirstOrDefault(p => p.PublicKey == key)?.Number
                : int.TryParse(key.AsSpan(key.IndexOf('-') + 1), out int n) ? n : null;
            if (number is { } k) byChoice[k] = value.GetValue<long>();
        }
        var adm = file["administrasi"];
        return new RegionPattern.Shares((int)(file["progres"]?["progres"]?.GetValue<long>() ?? 0), adm?["suara_sah"]?.GetValue<long>() ?? 0, byChoice,
            adm?["pemilih_dpt_j"]?.GetValue<long>() ?? 0, adm?["pengguna_total_j"]?.GetValue<long>() ?? 0);
    }

    /// <summary>
    /// The public anomaly flags: per province, every flagged TPS with its rules (<c>pemilu/anomali/{contest}/{p}.json</c>),
    /// and per contest the count by province and by rule (<c>pemilu/anomali/{contest}.json</c>). A flag never changes a number.
    /// </summary>
    private void WriteFlags(ContestId contest, Dictionary<RegionCode, ConcurrentDictionary<TpsCode, IReadOnlyList<Anomaly>>> byProvince, Stamp stamp)
    {
        var summaryPath = PublicTreePaths.Flags(contest, RegionCode.Nasional);
        var summary = Read(summaryPath) ?? new JsonObject { ["contest"] = contest.Slug(), ["provinsi"] = new JsonObject() };
        var counts = summary["provinsi"]!.AsObject();
        foreach (var (province, found) in byProvince)
        {
            var relative = PublicTreePaths.Flags(contest, province);
            var file = Read(relative) ?? new JsonObject { ["kode"] = province.Value, ["contest"] = contest.Slug(), ["tps"] = new JsonObject() };
            var listed = file["tps"]!.AsObject();
            foreach (var (tps, anomalies) in found.OrderBy(f => f.Key))
            {
                if (anomalies.Count == 0) listed.Remove(tps.Value);
                else listed[tps.Value] = JsonSerializer.SerializeToNode(anomalies.Select(a => new { rule = a.Rule, detail = a.Detail }), Json);
            }
            file["checkpoint"] = stamp.Json();
            file["ts"] = stamp.Ts;
            Write(relative, file);
            var rulesHere = new JsonObject();
            foreach (var rule in AnomalyRules.All)
                rulesHere[rule] = (long)listed.Count(t => t.Value!.AsArray().Any(a => a!["rule"]!.GetValue<string>() == rule));
            counts[province.Value] = new JsonObject { ["tps"] = (long)listed.Count, ["aturan"] = rulesHere };
        }
        var totals = new JsonObject();
        foreach (var rule in AnomalyRules.All)
            totals[rule] = counts.Sum(c => c.Value!["aturan"]![rule]!.GetValue<long>());
        summary["tps"] = counts.Sum(c => c.Value!["tps"]!.GetValue<long>());
        summary["aturan"] = totals;
        summary["checkpoint"] = stamp.Json();
        summary["ts"] = stamp.Ts;
        Write(summaryPath, summary);
    }

    private JsonObject? Read(string relative)
    {
        var path = Path.Combine(Root, relative);
        if (!File.Exists(path)) return null;
        using var stream = File.OpenRead(path);
        return JsonNode.Parse(stream)?.AsObject();
    }

    /// <summary>
    /// Writes a file, and its gzip twin unless told not to, each through a temporary file renamed into place: a reader sees
    /// the old or the new, whole. TPS files go without a twin: four million of them, each read now and then, are
    /// compressed when asked for; writing them is what a build of the nation spends its time on (a file and its rename).
    /// Desa region files (rewritten as their TPS report) and the listings of kecamatan and desa (90,000 files, written
    /// once) go without one too; a node compresses what it serves itself (<see cref="PublicFileCache"/>).
    /// </summary>
    private void Write(string relative, JsonNode content, bool gzipTwin = true)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(content, Json);
        var path = Path.Combine(Root, relative);
        var folder = Path.GetDirectoryName(path)!;
        if (_folders.TryAdd(folder, 0)) Directory.CreateDirectory(folder);
        var temp = $"{path}.{Environment.CurrentManagedThreadId}.tmp";
        // The twin goes first: whoever sees the new file finds a twin at least as new.
        if (gzipTwin)
        {
            using (var gz = File.Create(temp))
            using (var zip = new GZipStream(gz, CompressionLevel.Fastest))
                zip.Write(bytes);
            File.Move(temp, path + ".gz", overwrite: true);
        }
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }

    private static string Ts(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>The checkpoint a file was written at, as each file names it.</summary>
    private sealed record Stamp(long Size, string Root, string Ts, DateTimeOffset SignedAt)
    {
        public JsonObject Json() => new() { ["size"] = Size, ["root"] = Root };
    }
}
