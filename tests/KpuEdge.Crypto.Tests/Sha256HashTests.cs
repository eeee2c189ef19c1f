namespace KpuEdge.Crypto.Tests;

public class Sha256HashTests
{
    private const string AbcHex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    [Fact]
    public void Hashes_to_the_known_SHA256_digest_in_lower_case_hex()
    {
        Assert.Equal(AbcHex, Sha256Hash.Of("abc"u8).ToString());
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Sha256Hash.Of([]).ToString());
        Assert.Equal(Sha256Hash.Size, Sha256Hash.Of("abc"u8).Bytes.Length);
    }

    [Fact]
    public void Equal_data_gives_equal_hashes()
    {
        var a = Sha256Hash.Of("abc"u8);
        var b = Sha256Hash.Of("abc"u8);
        var c = Sha256Hash.Of("abd"u8);

        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, c);
        Assert.True(a != c);
        Assert.True(a.Equals((object)b));
        Assert.False(a.Equals("abc"));
    }

    [Fact]
    public void Parses_its_own_hex_in_either_case()
    {
        Assert.True(Sha256Hash.TryParseHex(AbcHex, out var lower));
        Assert.True(Sha256Hash.TryParseHex(AbcHex.ToUpperInvariant(), out var upper));
        Assert.Equal(Sha256Hash.Of("abc"u8), lower);
        Assert.Equal(lower, upper);
        Assert.Equal(AbcHex, upper.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("ba7816bf")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad00")]
    [InlineData("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    public void Refuses_hex_that_is_not_a_hash(string? hex)
    {
        Assert.False(Sha256Hash.TryParseHex(hex, out var hash));
        Assert.True(hash.IsEmpty);
    }

    [Fact]
    public void The_empty_hash_is_distinct_from_a_hash_of_zeros()
    {
        var empty = Sha256Hash.Empty;
        var zeros = Sha256Hash.FromBytes(new byte[32]);

        Assert.True(empty.IsEmpty);
        Assert.Equal("", empty.ToString());
        Assert.Empty(empty.ToArray());
        Assert.Equal(default, empty);
        Assert.Equal(empty, Sha256Hash.FromBytes([]));
        Assert.False(zeros.IsEmpty);
        Assert.NotEqual(empty, zeros);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(33)]
    public void Refuses_bytes_of_the_wrong_length(int length)
    {
        Assert.Throws<ArgumentException>(() => Sha256Hash.FromBytes(new byte[length]));
    }

    [Fact]
    public void Hands_out_a_copy_of_its_bytes()
    {
        var hash = Sha256Hash.Of("abc"u8);
        var bytes = hash.ToArray();
        bytes[0] ^= 0xFF;

        Assert.Equal(AbcHex, hash.ToString());
        Assert.Equal(hash, Sha256Hash.FromBytes(hash.ToArray()));
    }
}
