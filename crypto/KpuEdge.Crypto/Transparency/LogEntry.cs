using System.Diagnostics.CodeAnalysis;
using System.Formats.Cbor;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Ppk;

namespace KpuEdge.Crypto.Transparency;

/// <summary>The first byte of a log entry: what the rest of it is.</summary>
public enum LogEntryType : byte
{
    /// <summary>Content = a signed submission's exact wire bytes.</summary>
    Submission = 0x01,
    /// <summary>Content = canonical CBOR [1, device_id, certificate_serial_hex, revoked_at_ms, reason].</summary>
    Revocation = 0x02,
    /// <summary>Content = a signed PPK statement's exact wire bytes (verification, objection, correction, D.Hasil).</summary>
    PpkStatement = 0x03,
}

/// <summary>The reason's text in a revocation entry.</summary>
public static class RevocationReasonText
{
    public static string ToLogText(this RevocationReason reason) => reason switch
    {
        RevocationReason.Unspecified => "unspecified",
        RevocationReason.KeyCompromise => "key_compromise",
        RevocationReason.Superseded => "superseded",
        RevocationReason.CessationOfOperation => "cessation_of_operation",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    public static bool TryParseLogText(string? text, out RevocationReason reason)
    {
        foreach (var r in Enum.GetValues<RevocationReason>())
        {
            if (r.ToLogText() == text)
            {
                reason = r;
                return true;
            }
        }
        reason = default;
        return false;
    }
}

/// <summary>A device certificate's revocation, published in the log so nobody can revoke a device quietly (or backdate it).</summary>
public sealed record LoggedRevocation
{
    public LoggedRevocation(string deviceId, string certificateSerialHex, DateTimeOffset revokedAt, RevocationReason reason)
    {
        if (deviceId.Length is 0 or > LogEntry.MaxTextLength) throw new ArgumentException($"A device id is 1..{LogEntry.MaxTextLength} characters.", nameof(deviceId));
        // Lower case, no separators, no leading zeros (as KpuCertificate.SerialHex): one text per serial, so one byte
        // string per revocation.
        string serial = Serials.Normalize(certificateSerialHex) ?? "";
        if (!LogEntry.IsSerialHex(serial)) throw new ArgumentException($"'{certificateSerialHex}' is not a certificate serial in hex (1..40 hex digits).", nameof(certificateSerialHex));
        if (revokedAt.ToUnixTimeMilliseconds() < 0) throw new ArgumentOutOfRangeException(nameof(revokedAt), "Revocation time is after 1970.");
        DeviceId = deviceId;
        CertificateSerialHex = serial;
        RevokedAt = DateTimeOffset.FromUnixTimeMilliseconds(revokedAt.ToUnixTimeMilliseconds());
        Reason = reason;
    }

    public string DeviceId { get; }
    /// <summary>Lower-case hex of the certificate's serial number, without leading zeros.</summary>
    public string CertificateSerialHex { get; }
    /// <summary>Milliseconds precision: what the entry holds.</summary>
    public DateTimeOffset RevokedAt { get; }
    public RevocationReason Reason { get; }
}

public sealed class LogEntryFormatException(string message, Exception? inner = null) : FormatException(message, inner);

/// <summary>
/// One entry of the transparency log: a type byte, then the content. Leaf hash = SHA-256(0x00 ‖ entry) (RFC 9162).
/// Decoding is strict (canonical CBOR, nothing trailing), so an entry has one byte string and one leaf hash.
/// </summary>
public sealed class LogEntry
{
    public const int MaxTextLength = 64;
    /// <summary>RFC 5280 serials are at most 20 bytes.</summary>
    public const int MaxSerialHexLength = 40;
    private const int RevocationVersion = 1;

    private LogEntry(byte[] bytes, SignedSubmission? submission, LoggedRevocation? revocation, SignedPpkStatement? statement = null)
    {
        Bytes = bytes;
        Submission = submission;
        Revocation = revocation;
        Statement = statement;
    }

    public LogEntryType Type => (LogEntryType)Bytes[0];
    /// <summary>The entry as logged: type byte ‖ content.</summary>
    public byte[] Bytes { get; }
    public ReadOnlySpan<byte> Content => Bytes.AsSpan(1);
    /// <summary>Set for <see cref="LogEntryType.Submission"/> (decoded, signature not checked).</summary>
    public SignedSubmission? Submission { get; }
    /// <summary>Set for <see cref="LogEntryType.Revocation"/>.</summary>
    public LoggedRevocation? Revocation { get; }
    /// <summary>Set for <see cref="LogEntryType.PpkStatement"/> (decoded, signature not checked).</summary>
    public SignedPpkStatement? Statement { get; }

    public byte[] LeafHash() => MerkleTree.LeafHash(Bytes);

    public static byte[] LeafHash(ReadOnlySpan<byte> entry) => MerkleTree.LeafHash(entry);

    public static LogEntry For(SignedSubmission submission) => new(EncodeSubmission(submission.Wire), submission, null);

    public static LogEntry For(LoggedRevocation revocation) => new(EncodeRevocation(revocation), null, revocation);

    public static LogEntry For(SignedPpkStatement statement) => new(EncodeStatement(statement.Wire), null, null, statement);

    /// <summary>0x03 ‖ the statement's wire bytes, untouched.</summary>
    public static byte[] EncodeStatement(ReadOnlySpan<byte> wire) => [(byte)LogEntryType.PpkStatement, .. wire];

    /// <summary>0x01 ‖ the submission's wire bytes, untouched.</summary>
    public static byte[] EncodeSubmission(ReadOnlySpan<byte> wire)
    {
        var entry = new byte[1 + wire.Length];
        entry[0] = (byte)LogEntryType.Submission;
        wire.CopyTo(entry.AsSpan(1));
        return entry;
    }

    /// <summary>0x02 ‖ canonical CBOR [1, device_id, certificate_serial_hex, revoked_at (Unix ms), reason].</summary>
    public static byte[] EncodeRevocation(LoggedRevocation revocation)
    {
        var w = new CborWriter(CborConformanceMode.Canonical);
        w.WriteStartArray(5);
        w.WriteInt32(RevocationVersion);
        w.WriteTextString(revocation.DeviceId);
        w.WriteTextString(revocation.CertificateSerialHex);
        w.WriteUInt64((ulong)revocation.RevokedAt.ToUnixTimeMilliseconds());
        w.WriteTextString(revocation.Reason.ToLogText());
        w.WriteEndArray();
        var content = w.Encode();
        var entry = new byte[1 + content.Length];
        entry[0] = (byte)LogEntryType.Revocation;
        content.CopyTo(entry, 1);
        return entry;
    }

    /// <summary>Decodes an entry; throws <see cref="LogEntryFormatException"/> naming what is wrong.</summary>
    public static LogEntry Decode(ReadOnlyMemory<byte> entry)
    {
        if (entry.Length == 0) throw new LogEntryFormatException("An empty entry.");
        var bytes = entry.ToArray();
        switch ((LogEntryType)bytes[0])
        {
            case LogEntryType.Submission:
                try
                {
                    return new LogEntry(bytes, SignedSubmission.Decode(entry[1..]), null);
                }
                catch (SubmissionFormatException e)
                {
                    throw new LogEntryFormatException($"A submission entry whose content is not a submission: {e.Message}", e);
                }
            case LogEntryType.Revocation:
                return new LogEntry(bytes, null, DecodeRevocation(entry[1..]));
            case LogEntryType.PpkStatement:
                try
                {
                    return new LogEntry(bytes, null, null, SignedPpkStatement.Decode(entry[1..]));
                }
                catch (PpkStatementFormatException e)
                {
                    throw new LogEntryFormatException($"A PPK statement entry whose content is not a statement: {e.Message}", e);
                }
            default:
                throw new LogEntryFormatException($"Unknown entry type 0x{bytes[0]:x2}.");
        }
    }

    public static bool TryDecode(ReadOnlyMemory<byte> entry, [NotNullWhen(true)] out LogEntry? decoded, [NotNullWhen(false)] out string? error)
    {
        try
        {
            decoded = Decode(entry);
            error = null;
            return true;
        }
        catch (LogEntryFormatException e)
        {
            decoded = null;
            error = e.Message;
            return false;
        }
    }

    private static LoggedRevocation DecodeRevocation(ReadOnlyMemory<byte> content)
    {
        try
        {
            var r = new CborReader(content, CborConformanceMode.Canonical);
            if (r.ReadStartArray() != 5) throw new LogEntryFormatException("A revocation is a 5-element array.");
            int version = r.ReadInt32();
            if (version != RevocationVersion) throw new LogEntryFormatException($"Revocation format version {version}; expected {RevocationVersion}.");
            string deviceId = r.ReadTextString();
            string serial = r.ReadTextString();
            ulong revokedAt = r.ReadUInt64();
            string reasonText = r.ReadTextString();
            r.ReadEndArray();
            if (r.BytesRemaining != 0) throw new LogEntryFormatException("Trailing bytes after the revocation.");
            if (deviceId.Length is 0 or > MaxTextLength) throw new LogEntryFormatException($"A device id of {deviceId.Length} characters.");
            if (!IsSerialHex(serial)) throw new LogEntryFormatException($"'{serial}' is not a certificate serial in lower-case hex without leading zeros.");
            if (revokedAt > (ulong)DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()) throw new LogEntryFormatException("Revocation time out of range.");
            if (!RevocationReasonText.TryParseLogText(reasonText, out var reason)) throw new LogEntryFormatException($"Unknown revocation reason '{reasonText}'.");
            return new LoggedRevocation(deviceId, serial, DateTimeOffset.FromUnixTimeMilliseconds((long)revokedAt), reason);
        }
        catch (Exception e) when (e is CborContentException or InvalidOperationException or OverflowException)
        {
            throw new LogEntryFormatException($"A revocation entry that is not canonical CBOR [1, device_id, serial, revoked_at, reason]: {e.Message}", e);
        }
    }

    internal static bool IsSerialHex(string text) =>
        text.Length is > 0 and <= MaxSerialHexLength && text.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f') && (text == "0" || text[0] != '0');
}
