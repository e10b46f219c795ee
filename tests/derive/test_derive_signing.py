"""Derive signatures against the published test vectors of Derive's own SDK.

Vectors: derivexyz/derive-py ``tests/test_action_signing/expected.py`` (commit 92fa887,
"Feat/system module"), which its authors captured from Derive's testnet ``private/order_debug``
endpoint: ``EXPECTED_TRADE`` (module data), ``EXPECTED_ACTION_HASH``,
``EXPECTED_TYPED_DATA_HASH`` and ``EXPECTED_SIGNATURE`` for the inputs pinned there, signed
with the public test session key of that repository's ``.env.template`` and the testnet
constants of its ``derive_py/config/contracts.py``. They are not produced by our code.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_utils import keccak

from adapters.derive.signing import (
    ActionSigner,
    TradeAction,
    login_signature,
    recover_action_signer,
    recover_login_signer,
    scale_e18,
    trade_module_data,
)
from engine.config.secrets import Secret

# --- the published inputs (derive-py expected.py / .env.template / contracts.py) ---------------
SESSION_KEY = "0xf20701f7e29ce946e79a70cb53067f837950841f77edb3e685ce370db7ed7bdd"  # public test key
SIGNER_ADDRESS = "0x0e94ecA48AC699d2237F3732210f8216A497ab16"
OWNER_ADDRESS = "0x5cb67F7829d01d9C75385A920De5E51060663374"
SUBACCOUNT_ID = 75723
NONCE = 1754472862000000000
EXPIRY = 1893456000
OPTION_A_ADDRESS = "0x4BB4C3CDc7562f08e9910A0C7D8bB7e108861eB4"  # ETH-20270625-6000-P
OPTION_A_SUB_ID = 2576980377601813910400
TRADE_MODULE = "0xB8D20c2B7a1Ad2EE33Bc50eF10876eD3035b5e7b"
ACTION_TYPEHASH = "0x4d7a9f27c403ff9c0f19bce61d76d82f9aa29f8d6d4b0c5474607d9770d1af17"
DOMAIN_SEPARATOR = "0x24d674cd5f2b9d564691c51e9d88f649b99246a2244dd74ce27b96578d773e85"
# --- the published outputs -------------------------------------------------------------------
EXPECTED_TRADE = (
    "0000000000000000000000004bb4c3cdc7562f08e9910a0c7d8bb7e108861eb4"
    "00000000000000000000000000000000000000000000008bb2c970006c1e1380"
    "0000000000000000000000000000000000000000000000056bc75e2d63100000"
    "0000000000000000000000000000000000000000000000000de0b6b3a7640000"
    "00000000000000000000000000000000000000000000003635c9adc5dea00000"
    "00000000000000000000000000000000000000000000000000000000000127cb"
    "0000000000000000000000000000000000000000000000000000000000000001")
EXPECTED_ACTION_HASH = "6c2ecd6541a41253440c87af220091c505d06ca0e826546af3c993d2588759d0"
EXPECTED_TYPED_DATA_HASH = "d1b13344c9e7fb068cc350c019895c77b0cc82e24959ad408058377ca9c1bfc3"
EXPECTED_SIGNATURE = ("1f6369ba4e27fb82512ee625954d636b565ba36a4d6b7b431f23afdd09dd3a29"
                      "01b4b8b5c738ee1f9e33cd0705c66904a8b7d2e3e5d9b58c9771c7dbab698339" "1b")


def _data() -> bytes:
    return trade_module_data(asset_address=OPTION_A_ADDRESS, sub_id=OPTION_A_SUB_ID,
                             limit_price=Decimal("100"), amount=Decimal("1"),
                             max_fee=Decimal("1000"), recipient_id=SUBACCOUNT_ID, is_bid=True)


def _action(**kw: object) -> TradeAction:
    args: dict[str, object] = dict(subaccount_id=SUBACCOUNT_ID, nonce=NONCE,
                                   module_address=TRADE_MODULE, module_data=_data(),
                                   signature_expiry_sec=EXPIRY, owner=OWNER_ADDRESS,
                                   signer=SIGNER_ADDRESS)
    args.update(kw)
    return TradeAction(**args)  # type: ignore[arg-type]


def _signer() -> ActionSigner:
    return ActionSigner(Secret(SESSION_KEY), domain_separator=DOMAIN_SEPARATOR,
                        action_typehash=ACTION_TYPEHASH)


def test_trade_module_data_matches_the_published_encoding() -> None:
    assert _data().hex() == EXPECTED_TRADE
    # first principles: 100 USDC limit = 100e18 = 0x56bc75e2d63100000, recipient 75723 = 0x127cb
    words = [int(EXPECTED_TRADE[i:i + 64], 16) for i in range(0, len(EXPECTED_TRADE), 64)]
    assert words[2] == 100 * 10**18 and words[3] == 10**18 and words[4] == 1000 * 10**18
    assert words[5] == SUBACCOUNT_ID and words[6] == 1


def test_action_hash_typed_data_hash_and_signature_match_the_published_vectors() -> None:
    signer = _signer()
    assert signer.address == SIGNER_ADDRESS
    action = _action()
    assert action.action_hash(ACTION_TYPEHASH).hex() == EXPECTED_ACTION_HASH
    digest = keccak(b"\x19\x01" + bytes.fromhex(DOMAIN_SEPARATOR[2:]) +
                    bytes.fromhex(EXPECTED_ACTION_HASH))
    assert digest.hex() == EXPECTED_TYPED_DATA_HASH
    assert signer.sign(action) == "0x" + EXPECTED_SIGNATURE
    assert recover_action_signer(action, "0x" + EXPECTED_SIGNATURE,
                                 domain_separator=DOMAIN_SEPARATOR,
                                 action_typehash=ACTION_TYPEHASH) == SIGNER_ADDRESS


@pytest.mark.parametrize("change", [
    {"subaccount_id": SUBACCOUNT_ID + 1}, {"nonce": NONCE + 1},
    {"signature_expiry_sec": EXPIRY + 1}, {"owner": "0x" + "00" * 19 + "01"}])
def test_every_envelope_field_is_signed(change: dict[str, object]) -> None:
    """A tampered field no longer recovers to the signer (what the venue, and our fake, check)."""
    sig = _signer().sign(_action())
    assert recover_action_signer(_action(**change), sig, domain_separator=DOMAIN_SEPARATOR,
                                 action_typehash=ACTION_TYPEHASH) != SIGNER_ADDRESS


def test_login_is_an_eip191_signature_of_the_millisecond_timestamp() -> None:
    sig = login_signature(Secret(SESSION_KEY), 1_754_472_862_000)
    assert recover_login_signer(1_754_472_862_000, sig) == SIGNER_ADDRESS
    assert recover_login_signer(1_754_472_862_001, sig) != SIGNER_ADDRESS


def test_decimals_are_exact_or_refused() -> None:
    assert scale_e18("0.000000000000000001", "x") == 1
    assert scale_e18(0.1, "x") == 10**17  # the float's shortest repr, not its binary value
    with pytest.raises(ValueError, match="more than 18 decimals"):
        scale_e18("0.0000000000000000001", "amount")
    with pytest.raises(ValueError, match="not a decimal"):
        scale_e18("abc", "amount")


def test_a_bad_key_fails_with_one_line_and_without_the_key() -> None:
    with pytest.raises(ValueError) as info:
        ActionSigner(Secret("0x1234-not-a-key"), domain_separator=DOMAIN_SEPARATOR,
                     action_typehash=ACTION_TYPEHASH)
    assert "1234-not-a-key" not in str(info.value) and info.value.__cause__ is None
