#!/usr/bin/env python3
"""Independent computation of the transparency log's known answers (LogKnownAnswerTests.cs).

Python standard library only: hashlib for SHA-256/SHA-512, base64, and Ed25519 written out from RFC 8032 §5.1
(the §6 reference code), checked below against RFC 8032's test vector 1 and against golang.org/x/mod/sumdb/note's
PeterNeumann vector before it is trusted. Nothing here shares code with the C# under test.

Run: python3 tests/KpuEdge.Crypto.Tests/Transparency/known_answers.py
"""
import base64
import hashlib

# ---------- Ed25519 (RFC 8032 §5.1, §6) ----------
p = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p - 2, p) % p
SQRT_M1 = pow(2, (p - 1) // 4, p)


def inv(x):
    return pow(x, p - 2, p)


def add(P, Q):
    A = (P[1] - P[0]) * (Q[1] - Q[0]) % p
    B = (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C = 2 * P[3] * Q[3] * d % p
    D = 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = add(Q, P)
        P = add(P, P)
        s >>= 1
    return Q


def recover_x(y, sign):
    x2 = (y * y - 1) * inv(d * y * y + 1)
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * SQRT_M1 % p
    if (x & 1) != sign:
        x = p - x
    return x


GY = 4 * inv(5) % p
GX = recover_x(GY, 0)
BASE = (GX, GY, 1, GX * GY % p)


def compress(P):
    z = inv(P[2])
    x, y = P[0] * z % p, P[1] * z % p
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    return compress(mul(expand(seed)[0], BASE))


def sign(seed, msg):
    a, prefix = expand(seed)
    A = compress(mul(a, BASE))
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % L
    R = compress(mul(r, BASE))
    k = int.from_bytes(hashlib.sha512(R + A + msg).digest(), "little") % L
    return R + int.to_bytes((r + k * a) % L, 32, "little")


# RFC 8032 §7.1 TEST 1.
_seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
assert public_key(_seed).hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
assert sign(_seed, b"").hex() == (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


# ---------- C2SP signed note ----------
def key_hash(name, pub):
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]


def verifier_key(name, pub):
    typed = b"\x01" + pub
    return f"{name}+{key_hash(name, pub).hex()}+{base64.b64encode(typed).decode()}"


def sign_note(text, name, seed):
    sig = key_hash(name, public_key(seed)) + sign(seed, text.encode())
    return text + "\n" + "\u2014 " + name + " " + base64.b64encode(sig).decode() + "\n"


# golang.org/x/mod/sumdb/note note_test.go TestSign: same note, byte for byte.
_peter = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
assert verifier_key("PeterNeumann", public_key(_peter)) == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
assert sign_note("If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
                 "PeterNeumann", _peter).endswith(
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


# ---------- RFC 9162 §2.1 Merkle tree ----------
def leaf(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def k_of(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return leaf(d[0])
    k = k_of(len(d))
    return node(mth(d[:k]), mth(d[k:]))


def path(m, d):  # §2.1.3.1
    if len(d) <= 1:
        return []
    k = k_of(len(d))
    return path(m, d[:k]) + [mth(d[k:])] if m < k else path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):  # §2.1.4.1
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    return subproof(m, d[:k], b) + [mth(d[k:])] if m <= k else subproof(m - k, d[k:], False) + [mth(d[:k])]


# ---------- the project's log entries ----------
def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for size, info in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")


def cbor_text(s):
    b = s.encode()
    return cbor_head(3, len(b)) + b


# Signed submissions of tests/KpuEdge.Crypto.Tests/Samples.cs (PPWP and DPD of TPS 3273011001003), wire bytes.
PPWP = bytes.fromhex(
    "8258ba8a016b70656d696c752d32303234016d33323733303131303031303033736465762d333237333031313030313030332d610258203edf6c4f"
    "26d6b5be61ddc405b57ffdb9f2907a4697efbb2bb525196fb53cf31c1b0000018da685fc52582073d6fce99e1890dc13c5b1b9a419ad266cc347"
    "83fa1933497156d7029d4e90e08b83187c184a18c683186f184218b18300020283020204831871184618b7830002028418ca18b70211838201182"
    "48202186b8203182618b50218b7584023f1271abee5ca23ef6115de09f03e0e9f44a6970a25a938659c7475ef6fcfcc28b541fef4052a453f32"
    "bd1eb944b46231cc9fad723406e7adefd87b44530905")
DPD = bytes.fromhex(
    "8258d48a016b70656d696c752d32303234036d33323733303131303031303033736465762d333237333031313030313030332d610258203edf6c4f"
    "26d6b5be61ddc405b57ffdb9f2907a4697efbb2bb525196fb53cf31c1b0000018da685fc52582073d6fce99e1890dc13c5b1b9a419ad266cc347"
    "83fa1933497156d7029d4e90e08b83187c184a18c683186f184218b18300020283020204831871184618b7830002028418ca18b700138c820118"
    "358202181a820310820406820506820608820704820812820915820a06820b05820c0718b00718b75840b9ec041d901ce56a5461c2b6806470ec"
    "82ec2bbca546b7a6b0a6204aa2295aa2a8b5684dc3973b1b29b94e5f8411cc81c5128674a76abe3d45a7feb93f06f50d")

REVOCATION = b"\x02" + cbor_head(4, 5) + cbor_head(0, 1) + cbor_text("dev-3273011001003-a") + cbor_text("1f2e3d") \
    + cbor_head(0, 1707900000000) + cbor_text("key_compromise")
ENTRIES = [b"\x01" + PPWP, REVOCATION, b"\x01" + DPD]

# The log key: DeviceKey.Deterministic("kpu-log", 2024) = seed SHA-256("kpu-sim-key:2024:kpu-log").
LOG_SEED = hashlib.sha256(b"kpu-sim-key:2024:kpu-log").digest()
ORIGIN = "kpu.go.id/kpuedge/pemilu-2024"


def b64(b):
    return base64.b64encode(b).decode()


if __name__ == "__main__":
    pub = public_key(LOG_SEED)
    print("log public key", pub.hex())
    print("verifier key  ", verifier_key(ORIGIN, pub))
    print("revocation entry", REVOCATION.hex())
    for i, e in enumerate(ENTRIES):
        print(f"leaf {i}", leaf(e).hex())
    for size in (1, 2, 3):
        body = f"{ORIGIN}\n{size}\n{b64(mth(ENTRIES[:size]))}\n"
        print(f"checkpoint {size}:", repr(sign_note(body, ORIGIN, LOG_SEED)))
    for i in range(3):
        print(f"inclusion {i} in 3:", [b64(h) for h in path(i, ENTRIES)])
    for m in (1, 2):
        print(f"consistency {m} -> 3:", [b64(h) for h in subproof(m, ENTRIES, True)])
