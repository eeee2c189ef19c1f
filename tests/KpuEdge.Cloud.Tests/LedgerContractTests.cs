using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using static KpuEdge.Cloud.Tests.LedgerRecords;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// What every results ledger promises (<see cref="IResultsLedger"/>), run against each implementation: numbering,
/// conflicts, the log's bytes, the audit trail, the readers, checkpoints and images. Each test gets a ledger of its own.
/// </summary>
public abstract class LedgerContractTests : IAsyncLifetime
{
    protected static readonly TpsCode[] Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("1371")).Take(3).ToArray();

    protected IResultsLedger Ledger { get; set; } = null!;

    /// <summary>Opens this test's ledger: the same storage at every call within a test, fresh storage for each test.</summary>
    protected abstract Task<IResultsLedger> OpenAsync();

    public virtual async Task InitializeAsync() => Ledger = await OpenAsync();

    public virtual async Task DisposeAsync() => await Ledger.DisposeAsync();

    [Fact]
    public async Task Numbers_positions_from_1_and_log_entries_from_0_without_gaps_across_batches()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        Assert.Equal(0, await Ledger.CountAsync());
        Assert.Equal(0, await Ledger.LogCountAsync());

        var first = await Ledger.AppendAsync(Forms(a.Next(), b.Next(), a.Next(ContestId.Dpr)));
        var nothing = await Ledger.AppendAsync(new LedgerBatch { Rejections = [Refusal("malformed")] });
        var second = await Ledger.AppendAsync(Forms(b.Next(ContestId.Dpr), a.Next(seed: 8), b.Next(seed: 8)));

        Assert.Equal([1L, 2, 3], first.Positions);
        Assert.Equal([0L, 1, 2], first.SubmissionLogIndexes);
        Assert.Equal((0L, 3L), (first.FirstLogIndex, first.LogEnd));
        Assert.Empty(first.Conflicts);
        Assert.Empty(first.RevocationLogIndexes);
        Assert.Empty(nothing.Positions);
        Assert.Empty(nothing.LogEntries);
        Assert.Equal((3L, 3L), (nothing.FirstLogIndex, nothing.LogEnd));
        Assert.Equal([4L, 5, 6], second.Positions);
        Assert.Equal([3L, 4, 5], second.SubmissionLogIndexes);
        Assert.Equal((3L, 6L), (second.FirstLogIndex, second.LogEnd));
        Assert.Equal(6, await Ledger.CountAsync());
        Assert.Equal(6, await Ledger.LogCountAsync());
        var all = await ReadAllAsync();
        Assert.Equal([1L, 2, 3, 4, 5, 6], all.Select(e => e.Position));
        Assert.Equal([0L, 1, 2, 3, 4, 5], all.Select(e => e.LogIndex));
    }

    [Fact]
    public async Task A_form_whose_bytes_are_held_already_is_a_conflict_not_written_while_the_rest_of_its_batch_is()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        var held = a.Next();
        await Ledger.AppendAsync(Forms(held, b.Next()));
        var (other, next) = (b.Next(), a.Next());

        var commit = await Ledger.AppendAsync(Forms(other, held, next));

        Assert.Equal(new HashSet<int> { 1 }, commit.Conflicts);
        Assert.Equal([3L, -1, 4], commit.Positions);
        Assert.Equal([2L, -1, 3], commit.SubmissionLogIndexes);
        Assert.Equal(2, commit.FirstLogIndex);
        AssertEntries([Entry(other), Entry(next)], commit.LogEntries);
        AssertEntries(commit.LogEntries, await ReadLogAsync(2, 4));
        Assert.Equal(4, await Ledger.CountAsync());
        Assert.Equal(4, await Ledger.LogCountAsync());
        Assert.Equal(1, (await Ledger.FindByHashAsync(held.Hash))!.Position);
        Assert.Single((await ReadAllAsync()), e => e.Hash == held.Hash);
    }

    [Fact]
    public async Task A_fork_other_bytes_under_a_device_and_sequence_held_already_is_a_conflict_not_written()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        var original = a.Next();
        await Ledger.AppendAsync(Forms(original));
        var fork = a.At(1, seed: 8);
        var other = b.Next();

        var commit = await Ledger.AppendAsync(Forms(fork, other));

        Assert.NotEqual(original.Hash, fork.Hash);
        Assert.Equal(new HashSet<int> { 0 }, commit.Conflicts);
        Assert.Equal([-1L, 2], commit.Positions);
        Assert.Equal([-1L, 1], commit.SubmissionLogIndexes);
        AssertEntries([Entry(other)], commit.LogEntries);
        Assert.Null(await Ledger.FindByHashAsync(fork.Hash));
        Assert.Equal(original.Hash, (await Ledger.FindByPositionAsync(1))!.Hash);
        Assert.Equal([original.Hash], (await Ledger.DeviceLinksAsync("dev-a")).Select(l => l.Link.Hash));
        Assert.Equal(2, await Ledger.CountAsync());
    }

    [Fact]
    public async Task A_form_repeated_or_forked_within_one_batch_is_a_conflict_and_only_its_first_copy_is_written()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        var (first, second) = (a.Next(), a.Next());
        var forkOfSecond = a.At(2, seed: 8);
        var other = b.Next();

        var commit = await Ledger.AppendAsync(Forms(first, second, first, forkOfSecond, other));

        Assert.Equal(new HashSet<int> { 2, 3 }, commit.Conflicts);
        Assert.Equal([1L, 2, -1, -1, 3], commit.Positions);
        Assert.Equal([0L, 1, -1, -1, 2], commit.SubmissionLogIndexes);
        AssertEntries([Entry(first), Entry(second), Entry(other)], commit.LogEntries);
        AssertEntries(commit.LogEntries, await ReadLogAsync(0, 3));
        Assert.Null(await Ledger.FindByHashAsync(forkOfSecond.Hash));
        Assert.Equal(3, await Ledger.CountAsync());
        Assert.Equal(3, await Ledger.LogCountAsync());
    }

    [Fact]
    public async Task A_batch_of_conflicts_only_writes_no_form_and_moves_no_number()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var held = a.Next();
        await Ledger.AppendAsync(Forms(held));

        var commit = await Ledger.AppendAsync(Forms(held, a.At(1, seed: 9)));
        var after = await Ledger.AppendAsync(Forms(a.Next()));

        Assert.Equal(new HashSet<int> { 0, 1 }, commit.Conflicts);
        Assert.Equal([-1L, -1], commit.Positions);
        Assert.Empty(commit.LogEntries);
        Assert.Equal((1L, 1L), (commit.FirstLogIndex, commit.LogEnd));
        Assert.Equal([2L], after.Positions);
        Assert.Equal([1L], after.SubmissionLogIndexes);
    }

    [Fact]
    public async Task Counts_refusals_by_reason()
    {
        Assert.Empty(await Ledger.RejectionCountsAsync());

        await Ledger.AppendAsync(new LedgerBatch { Rejections = [Refusal("bad_signature"), Refusal("malformed", deviceId: null), Refusal("bad_signature")] });
        await Ledger.AppendAsync(new LedgerBatch
        {
            Accepted = [(new LedgerDevice("dev-a", Tps[0]).Next(), Start)],
            Rejections = [Refusal("malformed")],
        });

        var counts = await Ledger.RejectionCountsAsync();
        Assert.Equal(2, counts.Count);
        Assert.Equal(2, counts["bad_signature"]);
        Assert.Equal(2, counts["malformed"]);
        Assert.Equal(1, await Ledger.CountAsync());
    }

    [Fact]
    public async Task Security_events_get_increasing_ids_in_their_json_and_are_read_back_after_an_id()
    {
        Assert.Empty(await Ledger.SecurityEventsAsync(0, 100));

        await Ledger.AppendAsync(new LedgerBatch
        {
            Accepted = [(new LedgerDevice("dev-a", Tps[0]).Next(), Start)],
            Events = [Event(SecurityEventKinds.ChainGap, "dev-a", "gap 1"), Event(SecurityEventKinds.ChainFork, null, "fork 1")],
        });
        var recorded = await Ledger.AppendEventsAsync([Event(SecurityEventKinds.AclPublishDenied, "dev-b", "acl 1"), Event(SecurityEventKinds.CertificateRefused, null, "cert 1")]);
        await Ledger.AppendAsync(new LedgerBatch { Events = [Event(SecurityEventKinds.ChainGapClosed, "dev-a", "gap closed")] });

        var all = await Ledger.SecurityEventsAsync(0, 100);
        Assert.Equal(["gap 1", "fork 1", "acl 1", "cert 1", "gap closed"], all.Select(e => e.Detail));
        var ids = all.Select(e => e.Id!.Value).ToList();
        Assert.True(ids[0] > 0);
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(ids[2..4], recorded.Select(e => e.Id!.Value));
        Assert.Equal(["acl 1", "cert 1"], recorded.Select(e => e.Detail));
        Assert.Equal(Event(SecurityEventKinds.ChainGap, "dev-a", "gap 1").ToJson(), (all[0] with { Id = null }).ToJson());
        Assert.Null(all[1].DeviceId);
        Assert.Equal(["cert 1"], (await Ledger.SecurityEventsAsync(ids[2], 1)).Select(e => e.Detail));
        Assert.Equal(["cert 1", "gap closed"], (await Ledger.SecurityEventsAsync(ids[2], 10)).Select(e => e.Detail));
        Assert.Empty(await Ledger.SecurityEventsAsync(ids[4], 10));
        Assert.Empty(await Ledger.AppendEventsAsync([]));
    }

    [Fact]
    public async Task Revocations_take_log_indexes_after_their_batch_forms_and_the_log_returns_exactly_the_commit_entries()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        var before = await Ledger.AppendAsync(Forms(a.Next(), b.Next()));
        var (repeat, form, revocation1, revocation2) = (a.Next(), b.Next(), Revocation("dev-a", "1A2B3C"), Revocation("dev-c", "04d5"));
        await Ledger.AppendAsync(Forms(repeat));

        var commit = await Ledger.AppendAsync(new LedgerBatch
        {
            Accepted = [(repeat, Start), (form, Start)],
            Revocations = [revocation1, revocation2],
        });
        var last = await Ledger.AppendAsync(new LedgerBatch { Revocations = [Revocation("dev-d", "ff")] });

        Assert.Equal(new HashSet<int> { 0 }, commit.Conflicts);
        Assert.Equal([-1L, 4], commit.Positions);
        Assert.Equal([-1L, 3], commit.SubmissionLogIndexes);
        Assert.Equal([4L, 5], commit.RevocationLogIndexes);
        Assert.Equal((3L, 6L), (commit.FirstLogIndex, commit.LogEnd));
        AssertEntries([Entry(form), revocation1.LogEntry, revocation2.LogEntry], commit.LogEntries);
        AssertEntries(commit.LogEntries, await ReadLogAsync(3, 6));
        Assert.Equal([6L], last.RevocationLogIndexes);
        Assert.Equal(7, last.LogEnd);
        Assert.Equal(4, await Ledger.CountAsync());
        Assert.Equal(7, await Ledger.LogCountAsync());
        AssertEntries([.. before.LogEntries, Entry(repeat), .. commit.LogEntries, .. last.LogEntries], await ReadLogAsync(0, 7));
        AssertEntries(commit.LogEntries.Skip(1).ToList(), await ReadLogAsync(4, 6));

        var revocations = await Ledger.RevocationsAsync();
        Assert.Equal(["dev-a", "dev-c", "dev-d"], revocations.Select(r => r.DeviceId));
        Assert.Equal(["1a2b3c", "4d5", "ff"], revocations.Select(r => r.SerialHex));
        Assert.Equal([4L, 5, 6], revocations.Select(r => r.LogIndex));
        Assert.Equal((revocation1.RevokedAt, revocation1.Reason, revocation1.RecordedAt), (revocations[0].RevokedAt, revocations[0].Reason, revocations[0].RecordedAt));
    }

    [Fact]
    public async Task A_revocation_recorded_already_is_not_logged_twice_and_keeps_its_log_index()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var first = await Ledger.AppendAsync(new LedgerBatch { Revocations = [Revocation("dev-a", "1a2b")] });
        var form = a.Next();

        // Two nodes may install the same revocation list at once: the second must not fail its whole group commit.
        var again = await Ledger.AppendAsync(new LedgerBatch
        {
            Accepted = [(form, Start)],
            Revocations = [Revocation("dev-a", "1a2b"), Revocation("dev-b", "77"), Revocation("dev-b", "77")],
        });

        Assert.Equal([0L], first.RevocationLogIndexes);
        Assert.Equal([1L], again.Positions);
        Assert.Equal([1L], again.SubmissionLogIndexes);
        Assert.Equal([0L, 2, 2], again.RevocationLogIndexes);
        AssertEntries([Entry(form), Revocation("dev-b", "77").LogEntry], again.LogEntries);
        Assert.Equal(3, await Ledger.LogCountAsync());
        AssertEntries([.. first.LogEntries, .. again.LogEntries], await ReadLogAsync(0, 3));
        Assert.Equal(["1a2b", "77"], (await Ledger.RevocationsAsync()).Select(r => r.SerialHex));
    }

    [Fact]
    public async Task Logs_PPK_statements_after_the_batch_forms_once_each_and_finds_them_by_station_kecamatan_TPS_and_desa()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        var formA = a.Next();
        var formB = b.Next();
        var kecamatan = Tps[0].Region.AncestorAt(RegionLevel.Kecamatan);
        var station = KpuEdge.Crypto.Pki.EphemeralPki.Create(CloudFixture.Election.ElectionId, DateTimeOffset.UnixEpoch.AddYears(59), seed: 5)
            .IssueDevice("ppk-" + kecamatan.Value, KpuEdge.Crypto.Pki.KpuRole.Ppk, kecamatan.Value);
        KpuEdge.Crypto.Ppk.SignedPpkStatement Sign(KpuEdge.Crypto.Ppk.PpkStatement s) =>
            KpuEdge.Crypto.Ppk.SignedPpkStatement.Sign(s, station.SigningCertificate, station.SigningKey);
        var verification = Sign(new KpuEdge.Crypto.Ppk.PpkVerification
        {
            ElectionId = CloudFixture.Election.ElectionId, StationId = station.DeviceId, Kecamatan = kecamatan, Sequence = 1, StationTime = DateTimeOffset.UnixEpoch,
            Verified = [new(Tps[0], ContestId.Ppwp, formA.Hash)],
        });
        var correction = Sign(new KpuEdge.Crypto.Ppk.PpkCorrection
        {
            ElectionId = CloudFixture.Election.ElectionId, StationId = station.DeviceId, Kecamatan = kecamatan, Sequence = 2, PreviousHash = verification.Hash,
            StationTime = DateTimeOffset.UnixEpoch, Replaces = new(Tps[1], ContestId.Ppwp, formB.Hash), Reason = "pleno", Tally = formB.Submission.Tally,
        });

        var commit = await Ledger.AppendAsync(Forms(formA, formB) with
        {
            Statements = [new StatementRecord(verification, DateTimeOffset.UnixEpoch), new StatementRecord(correction, DateTimeOffset.UnixEpoch, "{}")],
        });
        Assert.Equal([0L, 1], commit.SubmissionLogIndexes);
        Assert.Equal([2L, 3], commit.StatementLogIndexes);
        Assert.Empty(commit.StatementConflicts);
        Assert.Equal(KpuEdge.Crypto.Transparency.LogEntry.EncodeStatement(correction.Wire), commit.LogEntries[3]);
        Assert.Equal(KpuEdge.Crypto.Transparency.LogEntry.EncodeStatement(verification.Wire), await Ledger.ReadLogAsync(2, 3).SingleAsync());

        // The same bytes again, or another statement under a sequence number taken: conflicts, nothing written, no index moved.
        var fork = Sign(new KpuEdge.Crypto.Ppk.PpkObjection
        {
            ElectionId = CloudFixture.Election.ElectionId, StationId = station.DeviceId, Kecamatan = kecamatan, Sequence = 2, StationTime = DateTimeOffset.UnixEpoch,
            Form = new(Tps[1], ContestId.Ppwp, formB.Hash), Objector = "Panwascam", Text = "x",
        });
        var again = await Ledger.AppendAsync(new LedgerBatch { Statements = [new StatementRecord(verification, DateTimeOffset.UnixEpoch), new StatementRecord(fork, DateTimeOffset.UnixEpoch)] });
        Assert.Equal([-1L, -1], again.StatementLogIndexes);
        Assert.Equal(new HashSet<int> { 0, 1 }, again.StatementConflicts);
        Assert.Equal(4, await Ledger.LogCountAsync());

        Assert.Equal([1UL, 2], (await Ledger.StationLinksAsync(station.DeviceId)).Select(l => l.Link.Sequence));
        Assert.Equal(correction.Hash, (await Ledger.StationLinksAsync(station.DeviceId))[1].Link.Hash);
        var found = await Ledger.FindStatementAsync(correction.Hash);
        Assert.Equal((3L, "{}", KpuEdge.Crypto.Ppk.PpkStatementKind.Correction), (found!.LogIndex, found.Finding, found.Kind));
        Assert.Equal(correction.Wire, found.Wire);
        Assert.Equal([verification.Hash, correction.Hash], (await Ledger.StatementsForKecamatanAsync(kecamatan)).Select(s => s.Hash));
        Assert.Equal([verification.Hash], (await Ledger.StatementsForTpsAsync(Tps[0])).Select(s => s.Hash));
        Assert.Equal([correction.Hash], (await Ledger.CorrectionsForDesaAsync(Tps[1].Desa)).Select(s => s.Hash));
        Assert.Empty(await Ledger.StatementsForTpsAsync(Tps[2]));
    }

    [Fact]
    public async Task Finds_a_form_by_hash_and_by_position_with_everything_it_was_written_with()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var (first, second) = (a.Next(), a.Next(ContestId.Dpr));
        await Ledger.AppendAsync(Forms(first, second));

        var byHash = await Ledger.FindByHashAsync(second.Hash);
        var byPosition = await Ledger.FindByPositionAsync(2);

        AssertEntry(second, Received(1), 2, 1, byHash!);
        AssertEntry(second, Received(1), 2, 1, byPosition!);
        AssertEntry(first, Received(0), 1, 0, (await Ledger.FindByPositionAsync(1))!);
        Assert.Null(await Ledger.FindByHashAsync(Sha256Hash.Of("nothing"u8)));
        Assert.Null(await Ledger.FindByPositionAsync(3));
        Assert.Null(await Ledger.FindByPositionAsync(0));
    }

    [Fact]
    public async Task Lists_a_tps_forms_oldest_first_and_the_tps_that_report()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var a2 = new LedgerDevice("dev-a2", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        Assert.Empty(await Ledger.ReportingTpsAsync());
        var forms = new[] { b.Next(), a.Next(), a2.Next(ContestId.Dpr), b.Next(ContestId.Dpr), a.Next(ContestId.Dpr) };
        await Ledger.AppendAsync(Forms(forms[..2]));
        await Ledger.AppendAsync(Forms(forms[2..]));

        Assert.Equal([forms[1].Hash, forms[2].Hash, forms[4].Hash], (await Ledger.ForTpsAsync(Tps[0])).Select(e => e.Hash));
        Assert.Equal([1L, 4], (await Ledger.ForTpsAsync(Tps[1])).Select(e => e.Position));
        Assert.Empty(await Ledger.ForTpsAsync(Tps[2]));
        Assert.Equal(Tps[..2].OrderBy(t => t.Value, StringComparer.Ordinal), await Ledger.ReportingTpsAsync());
        Assert.Equal(forms.Select(f => f.Hash), (await ReadAllAsync()).Select(e => e.Hash));
    }

    [Fact]
    public async Task Gives_a_contest_form_versions_in_the_recap_order_sequence_then_position()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var c = new LedgerDevice("dev-c", Tps[0]);
        var (a1, a2) = (a.Next(), a.Next(seed: 8));
        var c1 = c.Next(seed: 9);
        var aDpr = a.Next(ContestId.Dpr);
        // Positions: a2 1, a1 2, c1 3, aDpr 4 — the recap's order is (1,2) a1, (1,3) c1, (2,1) a2.
        await Ledger.AppendAsync(Forms(a2));
        await Ledger.AppendAsync(Forms(a1, c1, aDpr));

        Assert.Equal(3, await Ledger.VersionCountAsync(Tps[0], ContestId.Ppwp));
        Assert.Equal(1, await Ledger.VersionCountAsync(Tps[0], ContestId.Dpr));
        Assert.Equal(0, await Ledger.VersionCountAsync(Tps[1], ContestId.Ppwp));
        Assert.Equal([c1.Hash, a2.Hash], (await Ledger.NewestVersionsAsync(Tps[0], ContestId.Ppwp, 2)).Select(e => e.Hash));
        Assert.Equal([a1.Hash, c1.Hash, a2.Hash], (await Ledger.NewestVersionsAsync(Tps[0], ContestId.Ppwp, 10)).Select(e => e.Hash));
        Assert.Equal([a1.Hash, c1.Hash], (await Ledger.VersionsAfterAsync(Tps[0], ContestId.Ppwp, null, 2)).Select(e => e.Hash));
        Assert.Equal([c1.Hash, a2.Hash], (await Ledger.VersionsAfterAsync(Tps[0], ContestId.Ppwp, new FormVersion(1, 2), 10)).Select(e => e.Hash));
        Assert.Equal([a2.Hash], (await Ledger.VersionsAfterAsync(Tps[0], ContestId.Ppwp, new FormVersion(1, 3), 10)).Select(e => e.Hash));
        Assert.Empty(await Ledger.VersionsAfterAsync(Tps[0], ContestId.Ppwp, new FormVersion(2, 1), 10));
        Assert.Equal([aDpr.Hash], (await Ledger.VersionsAfterAsync(Tps[0], ContestId.Dpr, null, 10)).Select(e => e.Hash));
        Assert.Empty(await Ledger.NewestVersionsAsync(Tps[1], ContestId.Ppwp, 5));
    }

    [Fact]
    public async Task Gives_every_accepted_link_of_a_device_by_sequence_with_its_form_position_and_log_index()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        var (a1, a2, a3) = (a.Next(), a.Next(ContestId.Dpr), a.Next(seed: 8));
        var commits = new[]
        {
            await Ledger.AppendAsync(Forms(b.Next(), a3)),
            await Ledger.AppendAsync(Forms(a1, b.Next(), a2)),
        };

        var links = await Ledger.DeviceLinksAsync("dev-a");

        Assert.Equal(
            [
                new DeviceLink(Link(a1), Tps[0], ContestId.Ppwp, 3, 2),
                new DeviceLink(Link(a2), Tps[0], ContestId.Dpr, 5, 4),
                new DeviceLink(Link(a3), Tps[0], ContestId.Ppwp, 2, 1),
            ],
            links);
        Assert.Equal(a1.Hash, links[1].Link.PreviousHash);
        Assert.True(links[0].Link.PreviousHash.IsEmpty);
        Assert.Equal([1UL, 2], (await Ledger.DeviceLinksAsync("dev-b")).Select(l => l.Link.Sequence));
        Assert.Empty(await Ledger.DeviceLinksAsync("dev-nobody"));
        Assert.Equal([1L, 2, 3, 4, 5], commits.SelectMany(c => c.Positions).Order());
    }

    [Fact]
    public async Task Names_the_devices_whose_chains_changed_since_a_position_and_which_of_them_have_holes()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        var c = new LedgerDevice("dev-c", Tps[2]);
        Assert.Equal((0L, 0, 0), await ChangesAsync(0));
        await Ledger.AppendAsync(Forms(a.At(1), a.At(2), b.Next(), b.Next(), a.At(7)));
        await Ledger.AppendAsync(Forms(b.Next(), c.At(3), a.At(4)));

        var all = await Ledger.ChainsChangedAfterAsync(0);

        Assert.Equal(8, all.Through);
        Assert.Equal(["dev-a", "dev-b", "dev-c"], all.Devices.Order(StringComparer.Ordinal));
        var holes = all.Holes.OrderBy(h => h.DeviceId, StringComparer.Ordinal).ToList();
        Assert.Equal(["dev-a", "dev-c"], holes.Select(h => h.DeviceId));
        Assert.Equal((Tps[0].Value, 7UL), (holes[0].Tps, holes[0].Head));
        Assert.Equal([3UL, 5, 6], holes[0].Missing);
        Assert.Equal(Received(4), holes[0].LastReceivedAt);
        Assert.Equal((Tps[2].Value, 3UL), (holes[1].Tps, holes[1].Head));
        Assert.Equal([1UL, 2], holes[1].Missing);
        Assert.Equal(Received(1), holes[1].LastReceivedAt);

        // Only what was written after a position is read again: c's holes fill, b moves on; a is not looked at.
        await Ledger.AppendAsync(Forms(c.At(1), c.At(2), b.Next()));
        var next = await Ledger.ChainsChangedAfterAsync(all.Through);

        Assert.Equal(11, next.Through);
        Assert.Equal(["dev-b", "dev-c"], next.Devices.Order(StringComparer.Ordinal));
        Assert.Empty(next.Holes);
        Assert.Equal((11L, 0, 0), await ChangesAsync(11));
        Assert.Equal((11L, 3, 1), await ChangesAsync(7)); // a's 4th, c's two, b's 4th: a's holes remain
    }

    private async Task<(long Through, int Devices, int Holes)> ChangesAsync(long after)
    {
        var changes = await Ledger.ChainsChangedAfterAsync(after);
        return (changes.Through, changes.Devices.Count, changes.Holes.Count);
    }

    [Fact]
    public async Task Registers_devices_once_finds_them_by_id_and_by_certificate_serial_and_counts_them()
    {
        var devices = Enumerable.Range(0, 5).Select(i => Device($"dev-{i}", Tps[i % Tps.Length])).ToList();
        Assert.Equal(0, await Ledger.DeviceCountAsync());

        var first = await Ledger.RegisterDevicesAsync(devices[..3]);
        var again = await Ledger.RegisterDevicesAsync(devices);

        Assert.Equal((3, 0), (first.Added, first.Held));
        Assert.Empty(first.Conflicts);
        Assert.Equal((2, 3), (again.Added, again.Held));
        Assert.Empty(again.Conflicts);
        Assert.Equal(5, await Ledger.DeviceCountAsync());
        var found = await Ledger.FindDevicesAsync(["dev-3", "dev-0", "dev-nobody", "dev-3"]);
        Assert.Equal(["dev-0", "dev-3"], found.Select(d => d.DeviceId).Order(StringComparer.Ordinal));
        var three = found.Single(d => d.DeviceId == "dev-3");
        Assert.Equal((devices[3].Tps, devices[3].PublicKey.ToBase64()), (three.Tps, three.PublicKey.ToBase64()));
        Assert.Equal(devices[3].SigningCertificate!.Der, three.SigningCertificate!.Der);
        Assert.Empty(await Ledger.FindDevicesAsync(["dev-nobody"]));
        var bySerial = await Ledger.DevicesWithCertificatesAsync([devices[1].SigningCertificate!.SerialHex, devices[4].SigningCertificate!.SerialHex, "abc123"]);
        Assert.Equal(["dev-1", "dev-4"], bySerial.Select(d => d.DeviceId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_device_offered_with_another_certificate_is_a_conflict_and_keeps_the_one_it_is_registered_with()
    {
        var registered = Device("dev-a", Tps[0]);
        var rekeyed = Device("dev-a", Tps[0], seed: 8);
        var other = Device("dev-b", Tps[1]);
        var twice = (Device("dev-c", Tps[2]), Device("dev-c", Tps[2], seed: 9));
        await Ledger.RegisterDevicesAsync([registered]);

        var registration = await Ledger.RegisterDevicesAsync([rekeyed, other, twice.Item1, twice.Item2]);

        Assert.Equal((2, 0), (registration.Added, registration.Held));
        Assert.Equal(
            [
                new DeviceConflict("dev-a", registered.SigningCertificate!.SerialHex, rekeyed.SigningCertificate!.SerialHex),
                new DeviceConflict("dev-c", twice.Item1.SigningCertificate!.SerialHex, twice.Item2.SigningCertificate!.SerialHex),
            ],
            registration.Conflicts.OrderBy(c => c.DeviceId, StringComparer.Ordinal));
        Assert.Contains("refused", registration.Conflicts[0].Reason);
        var held = await Ledger.FindDevicesAsync(["dev-a", "dev-c"]);
        Assert.Equal(registered.SigningCertificate.Der, held.Single(d => d.DeviceId == "dev-a").SigningCertificate!.Der);
        Assert.Equal(twice.Item1.SigningCertificate!.Der, held.Single(d => d.DeviceId == "dev-c").SigningCertificate!.Der);
        Assert.Equal(3, await Ledger.DeviceCountAsync());
        await Assert.ThrowsAsync<ArgumentException>(() => Ledger.RegisterDevicesAsync([registered with { SigningCertificate = null }]));
    }

    [Fact]
    public async Task Keeps_the_newest_revocation_list_of_each_issuer_and_refuses_an_older_or_the_same()
    {
        Assert.Empty(await Ledger.CrlVersionsAsync());
        Assert.Null(await Ledger.CrlAsync("KPU Issuing CA 1"));
        var first = Crl("KPU Issuing CA 1", 100, [1]);
        var newer = Crl("KPU Issuing CA 1", 200, [2]);
        var older = Crl("KPU Issuing CA 1", 150, [3]);
        var sameNumberLater = Crl("KPU Issuing CA 1", 200, [4], later: TimeSpan.FromSeconds(1));
        var otherIssuer = Crl("KPU Issuing CA 2", 50, [5]);

        Assert.True(await Ledger.SaveCrlAsync(first));
        Assert.True(await Ledger.SaveCrlAsync(newer));
        Assert.False(await Ledger.SaveCrlAsync(older));
        Assert.False(await Ledger.SaveCrlAsync(newer));
        Assert.False(await Ledger.SaveCrlAsync(first));
        Assert.True(await Ledger.SaveCrlAsync(otherIssuer));
        Assert.Equal([newer.Version, otherIssuer.Version], await Ledger.CrlVersionsAsync());
        Assert.Equal([2], (await Ledger.CrlAsync("KPU Issuing CA 1"))!.Der);
        Assert.True(await Ledger.SaveCrlAsync(sameNumberLater));
        Assert.Equal(sameNumberLater.Version, (await Ledger.CrlAsync("KPU Issuing CA 1"))!.Version);
    }

    private static StoredCrl Crl(string issuer, long number, byte[] der, TimeSpan later = default) =>
        new(new CrlVersion(issuer, number, Start.AddSeconds(number) + later), der);

    [Fact]
    public async Task Saves_a_checkpoint_once_per_size_and_the_latest_is_the_largest()
    {
        Assert.Null(await Ledger.LatestCheckpointAsync());
        var five = new StoredCheckpoint(5, [5, 5], "note 5", Start);
        var twelve = new StoredCheckpoint(12, [1, 2], "note 12", Start.AddSeconds(2));

        await Ledger.SaveCheckpointAsync(five);
        await Ledger.SaveCheckpointAsync(twelve);
        await Ledger.SaveCheckpointAsync(new StoredCheckpoint(8, [8], "note 8", Start.AddSeconds(3)));
        await Ledger.SaveCheckpointAsync(twelve with { Root = [9, 9], Note = "another note 12" });

        var latest = await Ledger.LatestCheckpointAsync();
        Assert.Equal((12L, "note 12", twelve.SignedAt), (latest!.Size, latest.Note, latest.SignedAt));
        Assert.Equal(twelve.Root, latest.Root);
    }

    [Fact]
    public async Task Records_an_image_page_once_and_gives_pages_in_order()
    {
        var image = Sha256Hash.Of("image"u8);
        var other = Sha256Hash.Of("other image"u8);
        StoredImagePage Page(Sha256Hash hash, int page, TpsCode tps, ContestId contest, string path) =>
            new(hash, page, 2, Sha256Hash.Of(System.Text.Encoding.UTF8.GetBytes(path)), tps, contest, 1000 + page, path, Start.AddSeconds(page));
        Assert.Empty(await Ledger.ImagePagesAsync(image));

        await Ledger.RecordImagePageAsync(Page(image, 2, Tps[0], ContestId.Ppwp, "a/2"));
        await Ledger.RecordImagePageAsync(Page(image, 1, Tps[0], ContestId.Ppwp, "a/1"));
        await Ledger.RecordImagePageAsync(Page(image, 1, Tps[0], ContestId.Ppwp, "a/1 again"));
        await Ledger.RecordImagePageAsync(Page(other, 1, Tps[0], ContestId.Dpr, "b/1"));
        await Ledger.RecordImagePageAsync(Page(Sha256Hash.Of("third"u8), 1, Tps[1], ContestId.Ppwp, "c/1"));

        Assert.Equal([Page(image, 1, Tps[0], ContestId.Ppwp, "a/1"), Page(image, 2, Tps[0], ContestId.Ppwp, "a/2")], await Ledger.ImagePagesAsync(image));
        Assert.Equal(["a/1", "a/2", "b/1"], (await Ledger.ImagesForTpsAsync(Tps[0])).Select(p => p.Path));
        Assert.Empty(await Ledger.ImagesForTpsAsync(Tps[2]));
        Assert.Equal(Tps[0].Desa, Tps[1].Desa); // the first TPS of Kota Padang share a desa
        Assert.Equal(["a/1", "a/2", "b/1", "c/1"], (await Ledger.ImagesForDesaAsync(Tps[0].Desa)).Select(p => p.Path));
        Assert.Empty(await Ledger.ImagesForDesaAsync(RegionCode.Parse("9171011001")));
    }

    [Fact]
    public async Task Names_as_image_signers_only_devices_whose_accepted_forms_of_that_tps_and_contest_name_the_image()
    {
        var image = Sha256Hash.Of("photo"u8);
        var a = new LedgerDevice("dev-a", Tps[0]);
        var f = new LedgerDevice("dev-f", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[0]);
        var c = new LedgerDevice("dev-c", Tps[0]);
        var d = new LedgerDevice("dev-d", Tps[1]);
        var e = new LedgerDevice("dev-e", Tps[0]);
        await Ledger.AppendAsync(Forms(e.Next()));
        var commit = await Ledger.AppendAsync(Forms(
            a.Next(image: image), f.Next(seed: 8, image: image), b.Next(image: Sha256Hash.Of("another photo"u8)),
            c.Next(ContestId.Dpr, image: image), d.Next(image: image), e.At(1, image: image)));

        Assert.Equal(new HashSet<int> { 5 }, commit.Conflicts); // e's fork naming the image is never written
        Assert.Equal(["dev-a", "dev-f"], (await Ledger.ImageSignersAsync(Tps[0], ContestId.Ppwp, image)).Order(StringComparer.Ordinal));
        Assert.Equal(["dev-c"], await Ledger.ImageSignersAsync(Tps[0], ContestId.Dpr, image));
        Assert.Equal(["dev-d"], await Ledger.ImageSignersAsync(Tps[1], ContestId.Ppwp, image));
        Assert.Empty(await Ledger.ImageSignersAsync(Tps[2], ContestId.Ppwp, image));
        Assert.Empty(await Ledger.ImageSignersAsync(Tps[0], ContestId.Ppwp, Sha256Hash.Of("unknown"u8)));
    }

    [Fact]
    public async Task A_reopened_ledger_holds_everything_and_numbers_on()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var written = await Ledger.AppendAsync(new LedgerBatch
        {
            Accepted = [(a.Next(), Start)], Revocations = [Revocation("dev-z", "abc")], Rejections = [Refusal("malformed"), Refusal("bad_signature")],
        });
        await Ledger.SaveCheckpointAsync(new StoredCheckpoint(2, [2], "note", Start));
        var device = Device("dev-a", Tps[0]);
        await Ledger.RegisterDevicesAsync([device]);
        var crl = Crl("KPU Issuing CA 1", 7, [7, 7]);
        await Ledger.SaveCrlAsync(crl);
        await Ledger.DisposeAsync();

        Ledger = await OpenAsync();
        var next = await Ledger.AppendAsync(Forms(a.Next(), a.Next()));

        Assert.Equal([2L, 3], next.Positions);
        Assert.Equal([2L, 3], next.SubmissionLogIndexes);
        Assert.Equal(3, await Ledger.CountAsync());
        Assert.Equal(4, await Ledger.LogCountAsync());
        AssertEntries([.. written.LogEntries, .. next.LogEntries], await ReadLogAsync(0, 4));
        Assert.Equal(2, (await Ledger.LatestCheckpointAsync())!.Size);
        Assert.Equal(device.SigningCertificate!.Der, (await Ledger.FindDevicesAsync(["dev-a"])).Single().SigningCertificate!.Der);
        var again = await Ledger.RegisterDevicesAsync([device]);
        Assert.Equal((0, 1), (again.Added, again.Held));
        Assert.Equal(crl.Der, (await Ledger.CrlAsync(crl.Version.Issuer))!.Der);
        Assert.False(await Ledger.SaveCrlAsync(crl));
        await Ledger.AppendAsync(new LedgerBatch { Rejections = [Refusal("malformed")] });
        Assert.Equal(new Dictionary<string, long> { ["bad_signature"] = 1, ["malformed"] = 2 }, await Ledger.RejectionCountsAsync());
    }

    [Fact]
    public async Task Appends_from_several_callers_at_once_are_numbered_without_gaps_each_commit_a_run_of_its_own()
    {
        const int Callers = 4, Batches = 10, PerBatch = 5;
        var batches = Enumerable.Range(0, Callers).Select(caller =>
        {
            var devices = Enumerable.Range(0, PerBatch).Select(i => new LedgerDevice($"dev-{caller}-{i}", Tps[i % Tps.Length])).ToList();
            return Enumerable.Range(0, Batches).Select(_ => Forms(devices.Select(d => d.Next()).ToArray())).ToList();
        }).ToList();

        var commits = (await Task.WhenAll(batches.Select(mine => Task.Run(async () =>
        {
            var done = new List<(LedgerBatch, LedgerCommit)>();
            foreach (var batch in mine) done.Add((batch, await Ledger.AppendAsync(batch)));
            return done;
        })))).SelectMany(c => c).OrderBy(c => c.Item2.FirstLogIndex).ToList();

        AssertGaplessCommits(commits);
        Assert.Equal(Callers * Batches * PerBatch, await Ledger.CountAsync());
        AssertEntries(commits.SelectMany(c => c.Item2.LogEntries).ToList(), await ReadLogAsync(0, Callers * Batches * PerBatch));
    }

    /// <summary>
    /// Commits ordered by their first log index hold positions 1..N and log indexes 0..N-1, each a contiguous run, and
    /// every form lies in the ledger where its commit said (forms only, no conflicts, no revocations).
    /// </summary>
    protected static void AssertGaplessCommits(IReadOnlyList<(LedgerBatch Batch, LedgerCommit Commit)> commits)
    {
        long position = 1, logIndex = 0;
        foreach (var (batch, commit) in commits)
        {
            Assert.Empty(commit.Conflicts);
            Assert.Equal(logIndex, commit.FirstLogIndex);
            Assert.Equal(Enumerable.Range(0, batch.Accepted.Count).Select(i => position + i), commit.Positions);
            Assert.Equal(Enumerable.Range(0, batch.Accepted.Count).Select(i => logIndex + i), commit.SubmissionLogIndexes);
            AssertEntries(batch.Accepted.Select(a => Entry(a.Submission)).ToList(), commit.LogEntries);
            position += batch.Accepted.Count;
            logIndex += batch.Accepted.Count;
        }
    }

    protected async Task<List<LedgerEntry>> ReadAllAsync()
    {
        var entries = new List<LedgerEntry>();
        await foreach (var entry in Ledger.ReadAllAsync()) entries.Add(entry);
        return entries;
    }

    protected Task<List<byte[]>> ReadLogAsync(long start, long end) => ReadLogAsync(Ledger, start, end);

    protected static async Task<List<byte[]>> ReadLogAsync(ILogStore log, long start, long end)
    {
        var entries = new List<byte[]>();
        await foreach (var entry in log.ReadLogAsync(start, end)) entries.Add(entry);
        return entries;
    }

    protected static void AssertEntries(IReadOnlyList<byte[]> expected, IReadOnlyList<byte[]> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"log entry {i} differs");
    }

    private static void AssertEntry(SignedSubmission form, DateTimeOffset receivedAt, long position, long logIndex, LedgerEntry entry)
    {
        Assert.Equal((position, logIndex, form.Hash), (entry.Position, entry.LogIndex, entry.Hash));
        Assert.Equal((form.Submission.DeviceId, form.Submission.Sequence), (entry.DeviceId, entry.Sequence));
        Assert.Equal((form.Submission.Tps, form.Submission.Contest), (entry.Tps, entry.Contest));
        Assert.Equal(receivedAt, entry.ReceivedAt);
        Assert.Equal(form.Wire, entry.Wire);
    }

    private static ChainLink Link(SignedSubmission form) =>
        new(form.Submission.Sequence, form.Hash, form.Submission.PreviousHash, form.Submission.DeviceTime);
}
