using System.Formats.Cbor;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Crypto.Ppk;

/// <summary>Why bytes are not a PPK statement this build accepts.</summary>
public sealed class PpkStatementFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The one encoding of a signed PPK statement (RFC 8949 deterministic CBOR, positional arrays):
/// <code>
/// wire      = [ body: bstr, signature: bstr(64) ]
/// body      = [ version=1, kind, election_id, station_id, kecamatan, sequence, previous_hash, station_time_ms,
///               certificate: bstr (the station's Ed25519 signing certificate, DER), payload ]
/// payload   = [ [form...] ]                        ; 1 verification (1..500 forms)
///           / [ form, objector, text ]             ; 2 objection
///           / [ form, reason, tally ]              ; 3 correction (tally as in a form: TallyCbor)
///           / [ contest, [[tps, hash]...], tally ] ; 4 D.Hasil (the sum of the forms listed)
/// form      = [ tps, contest, hash ]
/// tps       = uint: the TPS code after the kecamatan's six digits (desa 4 + TPS 3), so a form outside the
///             station's kecamatan cannot even be written, and a kecamatan's 1,600 forms fit one message
/// signature = Ed25519(station key, "KPU-PPK\0" || body)
/// </code>
/// The certificate travels inside what is signed: a statement is evidence on its own, checkable offline against KPU's
/// root, and its signer cannot be swapped. Decoding is strict and bounded (<see cref="MaxWireBytes"/>).
/// </summary>
public static class PpkStatementCodec
{
    /// <summary>Below the broker's 72 KiB packet limit; a D.Hasil of the largest 2024 kecamatan (1,591 TPS) is ≈ 65 KiB.</summary>
    public const int MaxWireBytes = 70 * 1024;
    public const int MaxVerifiedForms = 500;
    public const int MaxRecapForms = 1700;
    public const int MaxObjectorLength = 64;
    public const int MaxObjectionLength = 1000;
    public const int MaxReasonLength = SubmissionCodec.MaxReasonLength;
    private const int MaxTextLength = 64;
    private const int MaxCertificateBytes = 4096;
    private static readonly byte[] Domain = "KPU-PPK\0"u8.ToArray();

    public static byte[] EncodeBody(PpkStatement s, KpuCertificate certificate)
    {
        // Never sign what the decoder would refuse.
        Check(s);
        var w = new CborWriter(CborConformanceMode.Canonical);
        w.WriteStartArray(10);
        w.WriteInt32(PpkStatement.FormatVersion);
        w.WriteInt32((int)s.Kind);
        w.WriteTextString(s.ElectionId);
        w.WriteTextString(s.StationId);
        w.WriteTextString(s.Kecamatan.Value);
        w.WriteUInt64(s.Sequence);
        w.WriteByteString(s.PreviousHash.Bytes);
        w.WriteInt64(s.StationTime.ToUnixTimeMilliseconds());
        w.WriteByteString(certificate.Der);
        switch (s)
        {
            case PpkVerification v:
                w.WriteStartArray(1);
                w.WriteStartArray(v.Verified.Count);
                foreach (var form in v.Verified) WriteForm(w, s.Kecamatan, form);
                w.WriteEndArray();
                break;
            case PpkObjection o:
                w.WriteStartArray(3);
                WriteForm(w, s.Kecamatan, o.Form);
                w.WriteTextString(o.Objector);
                w.WriteTextString(o.Text);
                break;
            case PpkCorrection c:
                w.WriteStartArray(3);
                WriteForm(w, s.Kecamatan, c.Replaces);
                w.WriteTextString(c.Reason);
                TallyCbor.Write(w, c.Tally);
                break;
            case KecamatanRecap d:
                w.WriteStartArray(3);
                w.WriteInt32((int)d.Contest);
                w.WriteStartArray(d.Summed.Count);
                foreach (var form in d.Summed)
                {
                    w.WriteStartArray(2);
                    w.WriteUInt32(LocalTps(s.Kecamatan, form.Tps));
                    w.WriteByteString(form.Hash.Bytes);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                TallyCbor.Write(w, d.Totals);
                break;
            default:
                throw new ArgumentException($"Unknown statement {s.GetType().Name}.", nameof(s));
        }
        w.WriteEndArray();
        w.WriteEndArray();
        return w.Encode();
    }

    public static byte[] SignedMessage(ReadOnlySpan<byte> body) => SignedWire.Tagged(Domain, body);

    public static byte[] EncodeWire(ReadOnlySpan<byte> body, ReadOnlySpan<byte> signature) => SignedWire.Encode(body, signature);

    /// <summary>Splits the wire bytes and decodes the body; the signature and certificate are not checked here.</summary>
    public static (PpkStatement Statement, KpuCertificate Certificate, byte[] Body, byte[] Signature) DecodeWire(ReadOnlyMemory<byte> wire)
    {
        if (wire.Length > MaxWireBytes) throw new PpkStatementFormatException($"A statement of {wire.Length} bytes; the limit is {MaxWireBytes}.");
        try
        {
            var (body, signature) = SignedWire.Split(wire, "statement", Malformed);
            if (signature.Length != 64) throw Malformed($"a signature of {signature.Length} bytes");
            var (statement, certificate) = DecodeBody(body);
            return (statement, certificate, body, signature);
        }
        catch (Exception e) when (e is CborContentException or InvalidOperationException or OverflowException or FormatException or ArgumentException)
        {
            throw new PpkStatementFormatException($"Not a PPK statement: {e.Message}", e);
        }
    }

    private static (PpkStatement, KpuCertificate) DecodeBody(byte[] body)
    {
        var r = new CborReader(body, CborConformanceMode.Canonical);
        if (r.ReadStartArray() != 10) throw Malformed("the body is not a 10-element array");
        int version = r.ReadInt32();
        if (version != PpkStatement.FormatVersion) throw Malformed($"format version {version}; this build reads {PpkStatement.FormatVersion}");
        int kindValue = r.ReadInt32();
        if (!Enum.IsDefined((PpkStatementKind)kindValue)) throw Malformed($"unknown statement kind {kindValue}");
        var kind = (PpkStatementKind)kindValue;
        string election = ReadText(r, "election id", MaxTextLength);
        string station = ReadText(r, "station id", MaxTextLength);
        if (station.Length == 0) throw Malformed("an empty station id");
        string kecamatanText = r.ReadTextString();
        if (!RegionCode.TryParse(kecamatanText, out var kecamatan) || kecamatan.Level != RegionLevel.Kecamatan)
            throw Malformed($"'{kecamatanText}' is not a kecamatan code");
        ulong sequence = r.ReadUInt64();
        if (sequence is 0 or > SubmissionCodec.MaxSequence) throw Malformed($"sequence {sequence}; 1..{SubmissionCodec.MaxSequence}");
        var previous = ReadHash(r, "previous hash", allowEmpty: true);
        long timeMs = r.ReadInt64();
        if (timeMs < 0 || timeMs > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()) throw Malformed("station time out of range");
        var der = r.ReadByteString();
        if (der.Length is 0 or > MaxCertificateBytes) throw Malformed($"a certificate of {der.Length} bytes");
        var certificate = KpuCertificate.FromDer(der);
        var time = DateTimeOffset.FromUnixTimeMilliseconds(timeMs);
        PpkStatement statement;
        switch (kind)
        {
            case PpkStatementKind.Verification:
            {
                if (r.ReadStartArray() != 1) throw Malformed("a verification's payload is [forms]");
                int count = r.ReadStartArray() ?? throw Malformed("an indefinite form list");
                if (count is 0 or > MaxVerifiedForms) throw Malformed($"{count} forms verified; 1..{MaxVerifiedForms}");
                var forms = new FormReference[count];
                for (int i = 0; i < count; i++) forms[i] = ReadForm(r, kecamatan);
                r.ReadEndArray();
                statement = new PpkVerification
                    { ElectionId = election, StationId = station, Kecamatan = kecamatan, Sequence = sequence, PreviousHash = previous, StationTime = time, Verified = forms };
                break;
            }
            case PpkStatementKind.Objection:
            {
                if (r.ReadStartArray() != 3) throw Malformed("an objection's payload is [form, objector, text]");
                var form = ReadForm(r, kecamatan);
                string objector = ReadText(r, "objector", MaxObjectorLength);
                string text = ReadText(r, "objection", MaxObjectionLength);
                statement = new PpkObjection
                    { ElectionId = election, StationId = station, Kecamatan = kecamatan, Sequence = sequence, PreviousHash = previous, StationTime = time, Form = form, Objector = objector, Text = text };
                break;
            }
            case PpkStatementKind.Correction:
            {
                if (r.ReadStartArray() != 3) throw Malformed("a correction's payload is [form, reason, tally]");
                var form = ReadForm(r, kecamatan);
                string reason = ReadText(r, "reason", MaxReasonLength);
                var tally = TallyCbor.Read(r, form.Contest, Malformed).ToTally(form.Tps);
                statement = new PpkCorrection
                    { ElectionId = election, StationId = station, Kecamatan = kecamatan, Sequence = sequence, PreviousHash = previous, StationTime = time, Replaces = form, Reason = reason, Tally = tally };
                break;
            }
            default:
            {
                if (r.ReadStartArray() != 3) throw Malformed("a D.Hasil's payload is [contest, forms, tally]");
                var contest = ReadContest(r);
                int count = r.ReadStartArray() ?? throw Malformed("an indefinite form list");
                if (count is 0 or > MaxRecapForms) throw Malformed($"{count} forms summed; 1..{MaxRecapForms}");
                var forms = new FormReference[count];
                for (int i = 0; i < count; i++)
                {
                    if (r.ReadStartArray() != 2) throw Malformed("a summed form is [tps, hash]");
                    forms[i] = new FormReference(ReadTps(r, kecamatan), contest, ReadHash(r, "form hash", allowEmpty: false));
                    r.ReadEndArray();
                }
                r.ReadEndArray();
                var totals = TallyCbor.Read(r, contest, Malformed).ToSum(count);
                statement = new KecamatanRecap
                    { ElectionId = election, StationId = station, Kecamatan = kecamatan, Sequence = sequence, PreviousHash = previous, StationTime = time, Contest = contest, Summed = forms, Totals = totals };
                break;
            }
        }
        r.ReadEndArray();
        r.ReadEndArray();
        if (r.BytesRemaining != 0) throw Malformed("trailing bytes in the body");
        Check(statement);
        return (statement, certificate);
    }

    /// <summary>What every statement must be, signing or reading: texts within bounds, forms in the kecamatan, no form twice.</summary>
    private static void Check(PpkStatement s)
    {
        if (s.ElectionId.Length > MaxTextLength || s.StationId.Length is 0 or > MaxTextLength) throw Malformed("election or station id out of bounds");
        if (s.Kecamatan.Level != RegionLevel.Kecamatan) throw Malformed($"'{s.Kecamatan}' is not a kecamatan");
        if (s.Sequence is 0 or > SubmissionCodec.MaxSequence) throw Malformed($"sequence {s.Sequence}");
        foreach (var form in s.Forms)
        {
            if (!s.Kecamatan.Contains(form.Tps.Region)) throw Malformed($"TPS {form.Tps} is not in kecamatan {s.Kecamatan}");
            if (form.Hash.IsEmpty) throw Malformed($"the form of TPS {form.Tps} is named without its hash");
        }
        if (s.Forms.Select(f => (f.Tps, f.Contest)).Distinct().Count() != s.Forms.Count) throw Malformed("a form is named twice");
        switch (s)
        {
            case PpkVerification v when v.Verified.Count is 0 or > MaxVerifiedForms:
                throw Malformed($"{v.Verified.Count} forms verified; 1..{MaxVerifiedForms}");
            case PpkObjection o when Blank(o.Objector, MaxObjectorLength) || Blank(o.Text, MaxObjectionLength):
                throw Malformed($"an objection names who raised it (1..{MaxObjectorLength} characters) and what it says (1..{MaxObjectionLength})");
            case PpkCorrection c when Blank(c.Reason, MaxReasonLength):
                throw Malformed($"a correction says why, in 1..{MaxReasonLength} characters");
            case PpkCorrection c when c.Tally.Tps != c.Replaces.Tps || c.Tally.Contest != c.Replaces.Contest:
                throw Malformed("a correction's numbers are for another TPS or contest than the form it replaces");
            case KecamatanRecap d when d.Summed.Count is 0 or > MaxRecapForms || d.Summed.Any(f => f.Contest != d.Contest) || d.Totals.Contest != d.Contest || d.Totals.Forms != d.Summed.Count:
                throw Malformed($"a D.Hasil sums 1..{MaxRecapForms} forms of its own contest, and says how many");
        }
    }

    private static bool Blank(string text, int max) => text.Trim().Length == 0 || text.Length > max;

    private static void WriteForm(CborWriter w, RegionCode kecamatan, FormReference form)
    {
        w.WriteStartArray(3);
        w.WriteUInt32(LocalTps(kecamatan, form.Tps));
        w.WriteInt32((int)form.Contest);
        w.WriteByteString(form.Hash.Bytes);
        w.WriteEndArray();
    }

    private static FormReference ReadForm(CborReader r, RegionCode kecamatan)
    {
        if (r.ReadStartArray() != 3) throw Malformed("a form is [tps, contest, hash]");
        var form = new FormReference(ReadTps(r, kecamatan), ReadContest(r), ReadHash(r, "form hash", allowEmpty: false));
        r.ReadEndArray();
        return form;
    }

    private static uint LocalTps(RegionCode kecamatan, TpsCode tps)
    {
        if (!kecamatan.Contains(tps.Region)) throw Malformed($"TPS {tps} is not in kecamatan {kecamatan}");
        return uint.Parse(tps.Value.AsSpan(6));
    }

    private static TpsCode ReadTps(CborReader r, RegionCode kecamatan)
    {
        uint local = r.ReadUInt32();
        if (local > 9_999_999 || !TpsCode.TryParse(kecamatan.Value + local.ToString("D7"), out var tps)) throw Malformed($"{local} is not a TPS of a kecamatan (desa 4 digits, TPS 3)");
        return tps;
    }

    private static ContestId ReadContest(CborReader r)
    {
        int value = r.ReadInt32();
        if (!Contests.IsDefined(value)) throw Malformed($"unknown contest {value}");
        return (ContestId)value;
    }

    private static string ReadText(CborReader r, string what, int max)
    {
        string text = r.ReadTextString();
        if (text.Length > max) throw Malformed($"{what} longer than {max} characters");
        return text;
    }

    private static Sha256Hash ReadHash(CborReader r, string what, bool allowEmpty)
    {
        var bytes = r.ReadByteString();
        if (bytes.Length == 0 && allowEmpty) return Sha256Hash.Empty;
        if (bytes.Length != Sha256Hash.Size) throw Malformed($"{what} is {bytes.Length} bytes");
        return Sha256Hash.FromBytes(bytes);
    }

    private static PpkStatementFormatException Malformed(string detail) => new($"Malformed PPK statement: {detail}.");
}
