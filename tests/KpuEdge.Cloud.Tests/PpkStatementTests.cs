using System.Text.Json;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// A PPK station's statements through the real broker, ingest, station grain, ledger, log and recap: verifications,
/// objections, the plenary's corrections (counted in place of the device's version, which stays in the record) and the
/// D.Hasil, compared with the cloud's own sum; and every kind of bad statement refused with its reason.
/// </summary>
public sealed class PpkStatementTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The three kecamatan of Kota Bukittinggi: each test keeps to its own.</summary>
    private static readonly IReadOnlyList<IGrouping<RegionCode, TpsCode>> Kecamatans = CloudFixture.Tree.TpsIn(RegionCode.Parse("1375"))
        .GroupBy(t => t.Region.AncestorAt(RegionLevel.Kecamatan)).Where(g => g.Count() >= 3).OrderBy(g => g.Key.Value).ToList();

    private TestStation Station(int kecamatan = 0) =>
        new(fixture.Pki.Pki.IssueDevice($"ppk-{Kecamatans[kecamatan].Key}-{Guid.NewGuid():N}"[..30], KpuRole.Ppk, Kecamatans[kecamatan].Key.Value), fixture);

    private async Task<(TestDevice Device, SignedSubmission Form)> SentAsync(TpsCode tps, ContestId contest = ContestId.Ppwp, int seed = 7)
    {
        var device = fixture.NewDevice(tps);
        var form = device.Next(contest, seed);
        await using var client = await device.ConnectAsync();
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(form, ReceiptTimeout)).Status);
        return (device, form);
    }

    private static FormReference Ref(SignedSubmission form) => new(form.Submission.Tps, form.Submission.Contest, form.Hash);

    private async Task<JsonElement> GetAsync(string path)
    {
        await fixture.Cloud.Recap.SettleAsync();
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync(path));
        return doc.RootElement.Clone();
    }

    private async Task<IReadOnlyList<SecurityEvent>> EventsAsync() =>
        await fixture.Cloud.Services.GetRequiredService<IResultsLedger>().SecurityEventsAsync(0, 10_000);

    [Fact]
    public async Task Verify_object_correct_and_sign_the_D_Hasil_each_logged_with_a_proof_the_station_checks_and_the_correction_counted()
    {
        var tps = Kecamatans[0].Take(3).ToList();
        var (_, first) = await SentAsync(tps[0]);
        var (_, second) = await SentAsync(tps[1], seed: 8);
        var station = Station();
        await using var client = await station.ConnectAsync();

        // Verified: the proof of the receipt leads from 0x03 ‖ the statement to a checkpoint signed by the log key.
        var verified = await client.SubmitStatementAsync(station.Verify(Ref(first)), ReceiptTimeout);
        Assert.Equal(ReceiptStatus.Accepted, verified.Status);
        Assert.Equal("verified", (await GetAsync($"api/v1/results/ppwp/{tps[0]}")).GetProperty("ppk").GetProperty("status").GetString());

        // A saksi's keberatan against the second TPS, then the plenary's correction of it.
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitStatementAsync(
            station.Object(Ref(second), "Saksi Paslon 02", "Suara paslon 2 di plano 158, di C.Hasil tertulis 58."), ReceiptTimeout)).Status);
        Assert.Equal("objection", (await GetAsync($"api/v1/results/ppwp/{tps[1]}")).GetProperty("ppk").GetProperty("status").GetString());
        var before = await GetAsync($"api/v1/results/ppwp/{Kecamatans[0].Key}");
        var fixedNumbers = Corrected(second.Submission.Tally, moved: 10);
        var correction = station.Correct(Ref(second), "Pleno PPK: dihitung ulang dari C.Hasil plano", fixedNumbers);
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitStatementAsync(correction, ReceiptTimeout)).Status);

        // The PPK's numbers are counted; the device's version stays, and the public sees both and who signed which.
        var result = await GetAsync($"api/v1/results/ppwp/{tps[1]}");
        Assert.Equal("ppk", result.GetProperty("counted_by").GetString());
        Assert.Equal(fixedNumbers.Suara[0].Total, result.GetProperty("chart").GetProperty("1").GetInt32());
        Assert.Equal(second.Hash.ToString(), result.GetProperty("submission").GetProperty("hash").GetString());
        var ppk = result.GetProperty("ppk");
        Assert.Equal("corrected", ppk.GetProperty("status").GetString());
        Assert.Equal(correction.Hash.ToString(), ppk.GetProperty("counted").GetString());
        var logged = ppk.GetProperty("statements").EnumerateArray().Last();
        Assert.Equal("correction", logged.GetProperty("kind").GetString());
        Assert.Equal(station.Id, logged.GetProperty("station").GetString());
        Assert.Equal("Pleno PPK: dihitung ulang dari C.Hasil plano", logged.GetProperty("correction").GetProperty("reason").GetString());
        var after = await GetAsync($"api/v1/results/ppwp/{Kecamatans[0].Key}");
        Assert.Equal(before.GetProperty("chart").GetProperty("1").GetInt64() + 10, after.GetProperty("chart").GetProperty("1").GetInt64());

        // The device's version can no longer be verified: the PPK's is counted now.
        var stale = await client.SubmitStatementAsync(station.Verify(Ref(second)), ReceiptTimeout);
        Assert.Equal(RejectReasons.StaleForm, stale.Reason);

        // The D.Hasil of the two counted forms agrees with the cloud's sum and says the third TPS is missing… once it reported.
        var (_, third) = await SentAsync(tps[2], seed: 9);
        var counted = new[] { Ref(first), new FormReference(tps[1], ContestId.Ppwp, correction.Hash) };
        var dhasil = station.Recap(ContestId.Ppwp, counted, TallySum.Of(ContestId.Ppwp, [first.Submission.Tally, fixedNumbers]));
        var receipt = await client.SubmitStatementAsync(dhasil, ReceiptTimeout);
        Assert.Equal(ReceiptStatus.Accepted, receipt.Status);
        using (var finding = JsonDocument.Parse(receipt.Finding!))
        {
            Assert.True(finding.RootElement.GetProperty("agrees").GetBoolean());
            Assert.Equal([tps[2].Value], finding.RootElement.GetProperty("not_included").EnumerateArray().Select(e => e.GetString()));
        }
        // The same D.Hasil again (a resend): a duplicate at the same log index, logged once.
        var again = await client.SubmitStatementAsync(dhasil, ReceiptTimeout);
        Assert.Equal(ReceiptStatus.Duplicate, again.Status);
        Assert.Equal(receipt.LogIndex, again.LogIndex);
        // Replayed by another station: refused, and a security event names the one that sent it.
        var thief = Station(kecamatan: 2);
        await using (var thiefClient = await thief.ConnectAsync())
        {
            var replayed = await thiefClient.SendAsync(Topics.PpkStatement(thief.Id), dhasil.Wire, dhasil.Hash.ToArray(), ReceiptTimeout);
            Assert.Equal(RejectReasons.ReplayedByOtherDevice, replayed.Reason);
        }
        Assert.Contains(await EventsAsync(), e => e.Kind == SecurityEventKinds.PpkStatementRefused && e.DeviceId == thief.Id);

        // A D.Hasil whose numbers differ from the forms' sum is recorded as signed, with the difference, and raised.
        var wrong = TallySum.Of(ContestId.Ppwp, [first.Submission.Tally, fixedNumbers, third.Submission.Tally]) with { SuaraSah = 1 };
        var mismatched = station.Recap(ContestId.Ppwp, [.. counted, Ref(third)], wrong);
        var differs = await client.SubmitStatementAsync(mismatched, ReceiptTimeout);
        Assert.Equal(ReceiptStatus.Accepted, differs.Status);
        Assert.Contains("suara_sah", differs.Finding);
        var alarm = Assert.Single(await EventsAsync(), e => e.Kind == SecurityEventKinds.DhasilMismatch && e.DeviceId == station.Id);
        Assert.Equal(SecuritySeverity.Critical, alarm.Severity);

        var kecamatan = await GetAsync($"api/v1/ppk/{Kecamatans[0].Key}");
        var recaps = kecamatan.GetProperty("statements").EnumerateArray().Where(s => s.GetProperty("kind").GetString() == "dhasil").ToList();
        Assert.Equal([true, false], recaps.Select(r => r.GetProperty("dhasil").GetProperty("finding").GetProperty("agrees").GetBoolean()));
        var statuses = kecamatan.GetProperty("forms").EnumerateArray().Where(f => f.GetProperty("contest").GetString() == "ppwp")
            .ToDictionary(f => f.GetProperty("tps").GetString()!, f => f.GetProperty("status").GetString());
        Assert.Equal("verified", statuses[tps[0].Value]);
        Assert.Equal("corrected", statuses[tps[1].Value]);
        Assert.Equal("received", statuses[tps[2].Value]);

        // kpu-verify checks each D.Hasil against nothing but the root and the log key: the first adds up, the second does not.
        var verifier = new KpuEdge.Verify.Verifier(fixture.Http);
        var anchors = new KpuEdge.Verify.TrustAnchors(fixture.Pki.Pki.Root.Certificate.ToPem(), fixture.Pki.Pki.Issuing.Certificate.ToPem());
        var good = await verifier.VerifyDhasilAsync(fixture.Http.BaseAddress!, fixture.Pki.LogKey, anchors, dhasil.Hash);
        Assert.True(good.Ok, string.Join("\n", good.Checks.Select(c => $"{c.Name} {c.Status} {c.Detail}")));
        Assert.Equal(["in_log", "statement", "station", "forms", "sum"], good.Checks.Select(c => c.Name).Where(n => n is not ("checkpoint_signature" or "inclusion_proof")));
        var bad = await verifier.VerifyDhasilAsync(fixture.Http.BaseAddress!, fixture.Pki.LogKey, anchors, mismatched.Hash);
        Assert.Equal("dhasil_mismatch", bad["sum"]!.Error);
        Assert.Equal(KpuEdge.Verify.VerificationReport.ExitCheckFailed, bad.ExitCode);

        // The statement's bytes are served whole, and the log proves them.
        var whole = await GetAsync($"api/v1/ppk/statements/{dhasil.Hash}");
        Assert.Equal(dhasil.Wire, Convert.FromBase64String(whole.GetProperty("wire").GetString()!));
        Assert.Equal(dhasil.Hash.ToString(), (await GetAsync($"api/v1/log/proof/inclusion?hash={dhasil.Hash}")).GetProperty("submission_hash").GetString());
    }

    [Fact]
    public async Task A_station_of_another_kecamatan_cannot_correct_or_verify_these_forms()
    {
        var (_, form) = await SentAsync(Kecamatans[2].First(), seed: 11);
        var neighbour = Station(kecamatan: 1);
        await using var client = await neighbour.ConnectAsync();
        // Its own certificate (kecamatan 1) under a statement that speaks for kecamatan 2: forged, whatever it says.
        var forged = neighbour.Forge(new PpkCorrection
        {
            ElectionId = CloudFixture.Election.ElectionId, StationId = neighbour.Id, Kecamatan = Kecamatans[2].Key, Sequence = 1, StationTime = DateTimeOffset.UtcNow,
            Replaces = Ref(form), Reason = "pleno", Tally = Corrected(form.Submission.Tally, moved: 5),
        });
        var refused = await client.SubmitStatementAsync(forged, ReceiptTimeout);
        Assert.Equal(ReceiptStatus.Rejected, refused.Status);
        Assert.Equal(RejectReasons.StationNotAssigned, refused.Reason);
        Assert.NotNull(refused.Rejection); // signed: a verdict on the statement itself
        Assert.Contains(await EventsAsync(), e => e.Kind == SecurityEventKinds.PpkStatementRefused && e.DeviceId == neighbour.Id
                                                  && e.Severity == SecuritySeverity.Critical);
        var result = await GetAsync($"api/v1/results/ppwp/{form.Submission.Tps}");
        Assert.Equal("device", result.GetProperty("counted_by").GetString());
        Assert.Equal(form.Submission.Tally.SuaraSah, result.GetProperty("administrasi").GetProperty("suara_sah").GetInt32());
        // Nor may it publish on another station's topic: the broker refuses.
        var own = Station(kecamatan: 2);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() =>
            client.SendAsync(Topics.PpkStatement(own.Id), own.Verify(Ref(form)).Wire, Sha256Hash.Of("x"u8).ToArray(), ReceiptTimeout));
    }

    [Fact]
    public async Task Forged_replayed_reasonless_and_forking_statements_are_refused_with_their_reason_and_nothing_changes()
    {
        var (_, form) = await SentAsync(Kecamatans[1].First(), seed: 12);
        var station = Station(kecamatan: 1);
        var other = Station(kecamatan: 1);
        await using var client = await station.ConnectAsync();
        await using var otherClient = await other.ConnectAsync();

        // A verification whose numbers were changed after signing.
        var genuine = station.Verify(Ref(form));
        var tampered = genuine.Wire.ToArray();
        tampered[^70] ^= 1;
        var forged = await client.SendAsync(Topics.PpkStatement(station.Id), tampered, Sha256Hash.Of(tampered).ToArray(), ReceiptTimeout);
        Assert.Equal(RejectReasons.BadSignature, forged.Reason);

        // A correction without a reason cannot even be read.
        var reasonless = station.WithoutReason(form, Corrected(form.Submission.Tally, moved: 1));
        var unreadable = await client.SendAsync(Topics.PpkStatement(station.Id), reasonless, Sha256Hash.Of(reasonless).ToArray(), ReceiptTimeout);
        Assert.Equal(RejectReasons.Malformed, unreadable.Reason);
        Assert.Contains("says why", unreadable.Detail);
        // Both are security events: a station's own software never signs either.
        var events = await EventsAsync();
        Assert.Contains(events, e => e.Kind == SecurityEventKinds.PpkStatementRefused && e.Evidence!["reason"] == RejectReasons.BadSignature
                                     && e.Severity == SecuritySeverity.Critical && e.DeviceId == station.Id);
        Assert.Contains(events, e => e.Kind == SecurityEventKinds.PpkStatementRefused && e.Evidence!["reason"] == RejectReasons.Malformed && e.DeviceId == station.Id);

        // The genuine one is logged; another station of the same kecamatan replaying it is refused, and so is a fork.
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitStatementAsync(genuine, ReceiptTimeout)).Status);
        var replayed = await otherClient.SendAsync(Topics.PpkStatement(other.Id), genuine.Wire, genuine.Hash.ToArray(), ReceiptTimeout);
        Assert.Equal(RejectReasons.ReplayedByOtherDevice, replayed.Reason);
        Assert.Contains(await EventsAsync(), e => e.Kind == SecurityEventKinds.PpkStatementRefused && e.DeviceId == other.Id
                                                  && e.Evidence!["reason"] == RejectReasons.ReplayedByOtherDevice);
        var fork = station.Fork(genuine, new PpkObjection
        {
            ElectionId = CloudFixture.Election.ElectionId, StationId = station.Id, Kecamatan = Kecamatans[1].Key, Sequence = 1, StationTime = DateTimeOffset.UtcNow,
            Form = Ref(form), Objector = "Panwascam", Text = "Ditulis ulang dengan nomor yang sama.",
        });
        Assert.Equal(RejectReasons.ChainFork, (await client.SubmitStatementAsync(fork, ReceiptTimeout)).Reason);
        Assert.Contains(await EventsAsync(), e => e.Kind == SecurityEventKinds.ChainFork && e.DeviceId == station.Id);

        // A form the cloud does not hold, and numbers that break the form's rules.
        var unknown = await client.SubmitStatementAsync(station.Verify(Ref(form) with { Hash = Sha256Hash.Of("never sent"u8) }), ReceiptTimeout);
        Assert.Equal(RejectReasons.StaleForm, unknown.Reason);
        var broken = form.Submission.Tally with { SuaraSah = form.Submission.Tally.SuaraSah + 5 };
        var invalid = await client.SubmitStatementAsync(station.Correct(Ref(form), "pleno", broken), ReceiptTimeout);
        Assert.Equal(RejectReasons.InvalidTally, invalid.Reason);
        Assert.NotEmpty(invalid.Violations!);

        var result = await GetAsync($"api/v1/results/ppwp/{form.Submission.Tps}");
        Assert.Equal("device", result.GetProperty("counted_by").GetString());
        Assert.Equal("verified", result.GetProperty("ppk").GetProperty("status").GetString());
        Assert.Single(result.GetProperty("ppk").GetProperty("statements").EnumerateArray());
    }

    [Fact]
    public async Task A_station_signs_while_its_uplink_is_down_and_its_outbox_delivers_its_statements_after_the_forms_when_the_link_returns()
    {
        // A TPS device's form the station took in to relay, and the station's own statements about it, all signed and
        // kept while the station has no uplink: nothing has reached the cloud yet.
        var tps = Kecamatans[1].ElementAt(1);
        var device = fixture.NewDevice(tps);
        var form = device.Next(seed: 13);
        var credentials = fixture.Pki.Pki.IssueDevice($"ppk-{Kecamatans[1].Key}-{Guid.NewGuid():N}"[..30], KpuRole.Ppk, Kecamatans[1].Key.Value);
        var signer = KpuEdge.Edge.Relay.StatementSigner.For(credentials, CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System);
        string folder = Path.Combine(fixture.DataDirectory, "station-" + Guid.NewGuid().ToString("N")[..8]);
        using var outbox = new KpuEdge.Edge.Delivery.Outbox(Path.Combine(folder, KpuEdge.Edge.Delivery.Outbox.FileName));
        var objection = outbox.SignAndAdd(signer, signer.Objection(Ref(form), "Saksi Partai 5", "Tanda tangan saksi tidak lengkap."));
        outbox.Add(form); // the relayed form arrives at the station after the objection was typed in: it still goes first
        var verification = outbox.SignAndAdd(signer, signer.Verification([Ref(form)]));
        Assert.Throws<TallyRejectedException>(() => outbox.SignAndAdd(signer, signer.Correction(Ref(form), "pleno",
            form.Submission.Tally with { SuaraSah = form.Submission.Tally.SuaraSah + 1 })));
        Assert.Equal((2UL, verification.Hash.ToString()), (outbox.StatementChain.Sequence, outbox.StatementChain.PreviousHash));

        // The link returns: the form first, then the statements; each receipt's proof checked against the log key.
        await using (var loop = new KpuEdge.Edge.Delivery.DeliveryLoop(outbox, credentials.DeviceId, fixture.Cloud.ConnectionFor(credentials)))
            Assert.True(await loop.RunUntilSettledAsync(TimeSpan.FromSeconds(60)), $"not settled: {outbox.Status()}");
        var statements = outbox.Statements();
        Assert.Equal([objection.Hash, verification.Hash], statements.Select(s => s.Hash));
        Assert.All(statements, s => Assert.Equal(KpuEdge.Edge.Delivery.OutboxState.Receipted, s.State));
        Assert.Equal(KpuEdge.Edge.Delivery.OutboxState.Receipted, outbox.Find(form.Hash)!.State);
        Assert.True(statements[1].LogIndex > outbox.Find(form.Hash)!.LogIndex);
        Assert.Equal("verified", (await GetAsync($"api/v1/results/ppwp/{tps}")).GetProperty("ppk").GetProperty("status").GetString());
    }

    private static C1Tally Corrected(C1Tally t, int moved) => TestStation.Corrected(t, moved);
}

/// <summary>A test's PPK station: real certificates, its own chain of signed statements, a real TLS connection.</summary>
public sealed class TestStation(DeviceCredentials credentials, CloudFixture fixture)
{
    private ulong _sequence;
    private Sha256Hash _previous;

    /// <summary>The tally with <paramref name="moved"/> votes moved from the second choice to the first: every sum stays consistent.</summary>
    public static C1Tally Corrected(C1Tally t, int moved)
    {
        Assert.True(t.Suara[1].Total >= moved, $"choice 2 has {t.Suara[1].Total} votes");
        return t with { Suara = [.. t.Suara.Select((c, i) => i == 0 ? c with { Total = c.Total + moved } : i == 1 ? c with { Total = c.Total - moved } : c)] };
    }

    public string Id => credentials.DeviceId;
    public RegionCode Kecamatan => RegionCode.Parse(credentials.Identity.Assignment);

    public async Task<SubmissionClient> ConnectAsync()
    {
        var client = new SubmissionClient(Id, fixture.Cloud.ConnectionFor(credentials));
        await client.ConnectAsync();
        return client;
    }

    private T Next<T>(T statement) where T : PpkStatement => statement with
    {
        ElectionId = CloudFixture.Election.ElectionId, StationId = Id, Kecamatan = Kecamatan, Sequence = ++_sequence, PreviousHash = _previous,
        StationTime = DateTimeOffset.UtcNow,
    };

    private SignedPpkStatement Sign(PpkStatement statement)
    {
        var signed = SignedPpkStatement.Sign(statement, credentials.SigningCertificate, credentials.SigningKey);
        _previous = signed.Hash;
        return signed;
    }

    private static readonly RegionCode Placeholder = RegionCode.Parse("110101");

    public SignedPpkStatement Verify(params FormReference[] forms) => Sign(Next(new PpkVerification
        { ElectionId = "", StationId = Id, Kecamatan = Placeholder, Sequence = 1, StationTime = default, Verified = forms }));

    public SignedPpkStatement Object(FormReference form, string objector, string text) => Sign(Next(new PpkObjection
        { ElectionId = "", StationId = Id, Kecamatan = Placeholder, Sequence = 1, StationTime = default, Form = form, Objector = objector, Text = text }));

    public SignedPpkStatement Correct(FormReference form, string reason, C1Tally tally) => Sign(Next(new PpkCorrection
        { ElectionId = "", StationId = Id, Kecamatan = Placeholder, Sequence = 1, StationTime = default, Replaces = form, Reason = reason, Tally = tally }));

    public SignedPpkStatement Recap(ContestId contest, IReadOnlyList<FormReference> forms, TallySum totals) => Sign(Next(new KecamatanRecap
        { ElectionId = "", StationId = Id, Kecamatan = Placeholder, Sequence = 1, StationTime = default, Contest = contest, Summed = forms, Totals = totals }));

    /// <summary>Signs whatever it is given with this station's key and certificate, checks or not (what a thief of the key could send).</summary>
    public SignedPpkStatement Forge(PpkStatement statement)
    {
        var body = PpkStatementCodec.EncodeBody(statement, credentials.SigningCertificate);
        return SignedPpkStatement.Decode(PpkStatementCodec.EncodeWire(body, credentials.SigningKey.Sign(PpkStatementCodec.SignedMessage(body))));
    }

    /// <summary>Another statement under the sequence number <paramref name="taken"/> already used.</summary>
    public SignedPpkStatement Fork(SignedPpkStatement taken, PpkStatement other) =>
        Forge(other with { Sequence = taken.Statement.Sequence, PreviousHash = taken.Statement.PreviousHash, StationTime = taken.Statement.StationTime });

    /// <summary>A correction whose reason is empty, signed as if it were a statement: the codec itself refuses to write one.</summary>
    public byte[] WithoutReason(SignedSubmission form, C1Tally tally)
    {
        const string marker = "QQQQ";
        var body = PpkStatementCodec.EncodeBody(Next(new PpkCorrection
        {
            ElectionId = "", StationId = Id, Kecamatan = Placeholder, Sequence = 1, StationTime = default,
            Replaces = new FormReference(form.Submission.Tps, form.Submission.Contest, form.Hash), Reason = marker, Tally = tally,
        }), credentials.SigningCertificate);
        _sequence--; // never sent as a real statement
        byte[] encoded = [0x64, .. System.Text.Encoding.ASCII.GetBytes(marker)];
        int at = body.AsSpan().IndexOf(encoded);
        byte[] blank = [.. body.AsSpan(0, at), 0x60, .. body.AsSpan(at + encoded.Length)];
        return PpkStatementCodec.EncodeWire(blank, credentials.SigningKey.Sign(PpkStatementCodec.SignedMessage(blank)));
    }
}
