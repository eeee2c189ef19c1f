using System.Globalization;
using System.Text.Json;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;
using Microsoft.Extensions.Options;
using Orleans.Placement;

namespace KpuEdge.Cloud.Ppk;

/// <summary>A station grain's word on one statement: where it was logged (or already stood), or why it is refused.</summary>
[GenerateSerializer, Immutable, Alias("kpu.StationAnswer")]
public sealed record StationAnswer(
    [property: Id(0)] DeviceAnswerKind Kind,
    [property: Id(1)] long LogIndex = -1,
    [property: Id(2)] long LogEnd = 0,
    [property: Id(3)] string? Reason = null,
    [property: Id(4)] string? Detail = null,
    [property: Id(5)] string? Finding = null,
    [property: Id(6)] ChainVerdictKind? Verdict = null);

/// <summary>
/// The cloud's comparison of a D.Hasil with its own sum of the same forms, as recorded with it and told to the station:
/// the fields that differ, and the TPS whose counted forms the D.Hasil leaves out.
/// </summary>
public sealed record DhasilFinding(bool Agrees, int Forms, IReadOnlyList<string> Differences, IReadOnlyList<string> NotIncluded)
{
    private static readonly JsonSerializerOptions Json = KpuJson.Wire;

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static DhasilFinding? Parse(string? json) => json is null ? null : JsonSerializer.Deserialize<DhasilFinding>(json, Json);
}

/// <summary>The one place a PPK station's statements are judged, whichever node they arrive on. Keyed by station id.</summary>
[Alias("kpu.IStationGrain")]
public interface IStationGrain : IGrainWithStringKey
{
    /// <summary>Judges one statement (its certificate, signature and rules already checked by the ingest) and, if accepted, logs it.</summary>
    [Alias("Submit"), ResponseTimeout("00:02:00")]
    Task<StationAnswer> Submit(byte[] wire, DateTimeOffset receivedAt);
}

/// <summary>
/// Judges a station's statements one at a time: its chain (forks, rewinds, jumps — <see cref="DeviceChain"/>), then what
/// each statement says against the record: a verification, a correction or a D.Hasil names the versions counted now (a
/// newer device version must be looked at first); an objection any version of the form. A correction is counted from
/// then on in place of the device's version; a D.Hasil is compared with the cloud's own sum of the same forms, and one
/// that differs is recorded with that finding and raised as a security event. Nothing is answered before it is durable.
/// </summary>
[PreferLocalPlacement]
[CollectionAgeLimit(Minutes = 10)]
public sealed class StationGrain(IPpkRecord statements, IFormReader forms, LedgerWriter writer, RecapContext context, IOptions<CloudOptions> options)
    : Grain, IStationGrain
{
    private readonly SortedDictionary<ulong, ChainLink> _links = new();

    public override async Task OnActivateAsync(CancellationToken cancellationToken) => await LoadAsync(cancellationToken);

    private async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        _links.Clear();
        foreach (var link in await statements.StationLinksAsync(this.GetPrimaryKeyString(), cancellationToken)) _links[link.Link.Sequence] = link.Link;
    }

    public async Task<StationAnswer> Submit(byte[] wire, DateTimeOffset receivedAt)
    {
        var signed = SignedPpkStatement.Decode(wire);
        var s = signed.Statement;
        if (s.StationId != this.GetPrimaryKeyString())
            throw new ArgumentException($"A statement of '{s.StationId}' was handed to the grain of '{this.GetPrimaryKeyString()}'.", nameof(wire));
        for (int attempt = 0; ; attempt++)
        {
            if (_links.TryGetValue(s.Sequence, out var same) && same.Hash == signed.Hash)
                return new StationAnswer(DeviceAnswerKind.Duplicate, await LogIndexOfAsync(signed.Hash));
            var candidate = new ChainLink(s.Sequence, signed.Hash, s.PreviousHash, s.StationTime);
            var verdict = DeviceChain.Judge(candidate, _links.Count == 0 ? null : _links.Last().Value, _links.GetValueOrDefault(s.Sequence - 1),
                same, _links.GetValueOrDefault(s.Sequence + 1), options.Value.MaxSequenceJump);
            if (verdict.Refused)
            {
                string reason = verdict.Kind switch
                {
                    ChainVerdictKind.Fork => RejectReasons.ChainFork,
                    ChainVerdictKind.Rewind => RejectReasons.ChainRewind,
                    _ => RejectReasons.ChainJump,
                };
                return new StationAnswer(DeviceAnswerKind.Refused, Reason: reason, Detail: $"Station '{s.StationId}': {verdict.Detail}.", Verdict: verdict.Kind);
            }

            var judged = await JudgeAsync(s);
            if (judged.Reason is not null) return new StationAnswer(DeviceAnswerKind.Refused, Reason: judged.Reason, Detail: judged.Detail);

            var events = judged.Finding is { Agrees: false } finding ? new[] { MismatchEvent(signed, finding, receivedAt) } : [];
            var result = await writer.AppendAsync(new LedgerBatch
            {
                Statements = [new StatementRecord(signed, receivedAt, judged.Finding?.ToJson())],
                Events = events,
            });
            if (result.StatementConflicts.Count == 0)
            {
                _links[s.Sequence] = candidate;
                long logIndex = result.StatementLogIndexes[0];
                if (s is PpkCorrection correction && judged.CorrectedTotals is { } totals)
                    await GrainFactory.GetGrain<ITpsGrain>(correction.Tally.Tps.Value)
                        .Accept(correction.Tally.Contest, FormVersion.OfCorrection(logIndex), totals);
                return new StationAnswer(DeviceAnswerKind.Accepted, logIndex, result.LogEnd, Finding: judged.Finding?.ToJson(), Verdict: verdict.Kind);
            }
            if (attempt > 0)
                throw new InvalidOperationException($"The ledger holds a statement of '{s.StationId}' sequence {s.Sequence} that its chain does not show.");
            await LoadAsync();
        }
    }

    private async Task<long> LogIndexOfAsync(Sha256Hash hash) => (await statements.FindStatementAsync(hash))?.LogIndex ?? -1;

    private sealed record Judgement(string? Reason = null, string? Detail = null, DhasilFinding? Finding = null, ContestTotals? CorrectedTotals = null);

    /// <summary>The version of each form the recap counts now: the newest PPK correction, else the device's newest version.</summary>
    private sealed record Counted(Sha256Hash Hash, ITallyNumbers Tally, bool ByPpk);

    private async Task<Judgement> JudgeAsync(PpkStatement s)
    {
        switch (s)
        {
            case PpkVerification v:
            {
                var counted = await CountedAsync(s.Kecamatan, v.Verified);
                foreach (var form in v.Verified)
                    if (Stale(form, counted) is { } stale) return stale;
                return new Judgement();
            }
            case PpkObjection o:
            {
                var versions = await forms.NewestVersionsAsync(o.Form.Tps, o.Form.Contest, options.Value.MaxVersionsPerForm);
                bool known = versions.Any(e => e.Hash == o.Form.Hash)
                             || (await CorrectionsAsync(o.Form.Tps.Desa)).Any(c => c.Hash == o.Form.Hash && Replaces(c).Tps == o.Form.Tps && Replaces(c).Contest == o.Form.Contest);
                return known ? new Judgement() : new Judgement(RejectReasons.UnknownForm, $"No version of {o.Form} has hash {o.Form.Hash}.");
            }
            case PpkCorrection c:
            {
                var counted = await CountedAsync(s.Kecamatan, [c.Replaces]);
                if (Stale(c.Replaces, counted) is { } stale) return stale;
                var ballot = context.Ballots.For(c.Tally.Contest, c.Tally.Tps)!;
                return new Judgement(CorrectedTotals: ContestTotals.FromTally(c.Tally, ballot));
            }
            case KecamatanRecap d:
            {
                var counted = await CountedAsync(s.Kecamatan, d.Summed, everyTpsOf: d.Contest);
                foreach (var form in d.Summed)
                    if (Stale(form, counted) is { } stale) return stale;
                var summed = d.Summed.Select(f => f.Tps).ToHashSet();
                var cloudSum = TallySum.Of(d.Contest, d.Summed.Select(f => counted[(f.Tps, f.Contest)]!.Tally));
                var differences = cloudSum.Differences(d.Totals);
                var notIncluded = counted.Where(c => c.Key.Contest == d.Contest && c.Value is not null && !summed.Contains(c.Key.Tps))
                    .Select(c => c.Key.Tps.Value).Order(StringComparer.Ordinal).ToList();
                return new Judgement(Finding: new DhasilFinding(differences.Count == 0, d.Summed.Count, differences, notIncluded));
            }
            default:
                throw new ArgumentException($"Unknown statement {s.GetType().Name}.", nameof(s));
        }
    }

    private static Judgement? Stale(FormReference form, IReadOnlyDictionary<(TpsCode Tps, ContestId Contest), Counted?> counted) =>
        counted.GetValueOrDefault((form.Tps, form.Contest)) switch
        {
            null => new Judgement(RejectReasons.UnknownForm, $"The cloud holds no {form}."),
            { } now when now.Hash != form.Hash => new Judgement(RejectReasons.StaleForm,
                $"{form} is counted as version {now.Hash}{(now.ByPpk ? " (a PPK correction)" : "")}, not {form.Hash}: look at that version first."),
            _ => null,
        };

    /// <summary>
    /// The counted version of each form named (and, for a D.Hasil, of every TPS of the kecamatan in that contest), read
    /// with one query for the kecamatan's corrections and one index read per form.
    /// </summary>
    private async Task<Dictionary<(TpsCode Tps, ContestId Contest), Counted?>> CountedAsync(
        RegionCode kecamatan, IEnumerable<FormReference> named, ContestId? everyTpsOf = null)
    {
        var keys = named.Select(f => (f.Tps, f.Contest)).ToHashSet();
        if (everyTpsOf is { } contest)
            foreach (var tps in context.Tree.TpsIn(kecamatan))
                if (context.Ballots.For(contest, tps) is not null) keys.Add((tps, contest));
        var corrections = new Dictionary<(TpsCode, ContestId), StoredStatement>();
        foreach (var c in (await statements.StatementsForKecamatanAsync(kecamatan)).Where(x => x.Kind == PpkStatementKind.Correction))
        {
            var replaces = Replaces(c);
            corrections[(replaces.Tps, replaces.Contest)] = c; // in log order: the last one wins
        }
        var counted = new Dictionary<(TpsCode, ContestId), Counted?>();
        foreach (var key in keys)
        {
            if (corrections.TryGetValue(key, out var correction))
            {
                counted[key] = new Counted(correction.Hash, ((PpkCorrection)correction.Signed.Statement).Tally, ByPpk: true);
                continue;
            }
            var newest = (await forms.NewestVersionsAsync(key.Item1, key.Item2, 1)).LastOrDefault();
            counted[key] = newest is null ? null : new Counted(newest.Hash, SignedSubmission.Decode(newest.Wire).Submission.Tally, ByPpk: false);
        }
        return counted;
    }

    private async Task<IReadOnlyList<StoredStatement>> CorrectionsAsync(RegionCode desa) => await statements.CorrectionsForDesaAsync(desa);

    private static FormReference Replaces(StoredStatement correction) => ((PpkCorrection)correction.Signed.Statement).Replaces;

    private static SecurityEvent MismatchEvent(SignedPpkStatement signed, DhasilFinding finding, DateTimeOffset receivedAt)
    {
        var d = (KecamatanRecap)signed.Statement;
        return new SecurityEvent
        {
            Ts = receivedAt,
            Kind = SecurityEventKinds.DhasilMismatch,
            Severity = SecuritySeverity.Critical,
            Source = SecurityEventSources.Ingest,
            DeviceId = d.StationId,
            Subject = d.Kecamatan.Value,
            Detail = $"The D.Hasil {d.Contest.Slug()} of kecamatan {d.Kecamatan} signed by {d.StationId} differs from the cloud's sum of the same " +
                     $"{finding.Forms} forms in: {string.Join(", ", finding.Differences)}.",
            Evidence = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["statement_hash"] = signed.Hash.ToString(),
                ["contest"] = d.Contest.Slug(),
                ["kecamatan"] = d.Kecamatan.Value,
                ["sequence"] = d.Sequence.ToString(CultureInfo.InvariantCulture),
                ["differences"] = string.Join(",", finding.Differences),
            },
        };
    }
}
