"""Derive's signatures: the EIP-191 login and the EIP-712 signed actions (orders, replaces).

Theory of operation (https://docs.derive.xyz, "Signing"; derive-py ``SignedAction``):

* login: the wallet (or a session key registered for it) signs the decimal string of the
  current time in milliseconds as an EIP-191 personal message; ``public/login`` carries
  ``{wallet, timestamp, signature}``.
* an order is an *action* of the trade module. Its module data is the ABI encoding of
  ``(address asset, uint256 sub_id, int256 limit_price, int256 amount, uint256 max_fee,
  uint256 recipient_subaccount, bool is_bid)``, decimals scaled by 1e18. The action hash is
  ``keccak(abi(bytes32 ACTION_TYPEHASH, uint256 subaccount_id, uint256 nonce, address module,
  bytes32 keccak(module_data), uint256 signature_expiry_sec, address owner, address signer))``
  and the signed digest the EIP-712 ``keccak(0x19 0x01 || DOMAIN_SEPARATOR || action_hash)``.

Every hash and signature goes through ``eth-account`` (and the ``eth-abi``/``eth-utils`` it
depends on): no secp256k1 or keccak is written here. Decimals are exact: a price or amount
that does not scale to an integer number of 1e-18 units is refused, never rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from eth_abi import encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_defunct
from eth_utils import keccak, to_checksum_address

from engine.config.secrets import Secret

__all__ = ["ActionSigner", "TradeAction", "login_signature", "recover_action_signer",
           "recover_login_signer", "scale_e18", "trade_module_data"]

_E18 = Decimal(10) ** 18
_ACTION_TYPES = ["bytes32", "uint256", "uint256", "address", "bytes32", "uint256", "address",
                 "address"]
_TRADE_TYPES = ["address", "uint256", "int256", "int256", "uint256", "uint256", "bool"]


def scale_e18(value: Decimal | str | float, what: str) -> int:
    """``value`` in 1e-18 units, exactly (a float goes through its shortest repr)."""
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        scaled = d * _E18
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{what} is not a decimal number: {value!r}") from exc
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value} has more than 18 decimals")
    return int(scaled)


def _bytes32(hex_str: str, what: str) -> bytes:
    raw = hex_str[2:] if hex_str.startswith("0x") else hex_str
    try:
        out = bytes.fromhex(raw)
    except ValueError as exc:
        raise ValueError(f"{what} is not hex: {hex_str!r}") from exc
    if len(out) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(out)}")
    return out


def trade_module_data(*, asset_address: str, sub_id: int, limit_price: Decimal | str,
                      amount: Decimal | str, max_fee: Decimal | str, recipient_id: int,
                      is_bid: bool) -> bytes:
    """The trade module's ABI-encoded data of one order (prices and amounts scaled by 1e18)."""
    return encode(_TRADE_TYPES, [to_checksum_address(asset_address), sub_id,
                                 scale_e18(limit_price, "limit_price"),
                                 scale_e18(amount, "amount"), scale_e18(max_fee, "max_fee"),
                                 recipient_id, is_bid])


@dataclass(frozen=True, slots=True)
class TradeAction:
    """The envelope of one signed action (what the signature commits to)."""

    subaccount_id: int
    nonce: int
    module_address: str
    module_data: bytes
    signature_expiry_sec: int
    owner: str
    signer: str

    def action_hash(self, action_typehash: str) -> bytes:
        return keccak(encode(_ACTION_TYPES, [
            _bytes32(action_typehash, "action_typehash"), self.subaccount_id, self.nonce,
            to_checksum_address(self.module_address), keccak(self.module_data),
            self.signature_expiry_sec, to_checksum_address(self.owner),
            to_checksum_address(self.signer)]))

    def signable(self, domain_separator: str, action_typehash: str) -> SignableMessage:
        """The EIP-712 message (version 0x01: domain separator, then the struct hash)."""
        return SignableMessage(version=b"\x01",
                               header=_bytes32(domain_separator, "domain_separator"),
                               body=self.action_hash(action_typehash))


class ActionSigner:
    """Signs logins and actions with one key (the wallet's, or a registered session key)."""

    def __init__(self, private_key: Secret, *, domain_separator: str,
                 action_typehash: str) -> None:
        try:
            self._account = Account.from_key(private_key.reveal())
        except (ValueError, TypeError):
            # "from None": the key must not travel in the exception chain.
            raise ValueError("the Derive signing key is not a valid secp256k1 private key") \
                from None
        self._key = private_key
        self.domain_separator = domain_separator
        self.action_typehash = action_typehash
        _bytes32(domain_separator, "domain_separator")
        _bytes32(action_typehash, "action_typehash")

    @property
    def address(self) -> str:
        """The signer's address (checksummed)."""
        return str(self._account.address)

    def login(self, timestamp_ms: int) -> str:
        """EIP-191 signature of the timestamp (``0x`` hex)."""
        return login_signature(self._key, timestamp_ms)

    def sign(self, action: TradeAction) -> str:
        """EIP-712 signature of ``action`` (``0x`` hex, 65 bytes r||s||v)."""
        signed = Account.sign_message(action.signable(self.domain_separator,
                                                      self.action_typehash),
                                      self._key.reveal())
        return "0x" + bytes(signed.signature).hex()


def login_signature(key: Secret, timestamp_ms: int) -> str:
    """EIP-191 personal-message signature of ``str(timestamp_ms)`` by ``key``."""
    signed = Account.sign_message(encode_defunct(text=str(timestamp_ms)), key.reveal())
    return "0x" + bytes(signed.signature).hex()


def recover_login_signer(timestamp_ms: int | str, signature: str) -> str:
    """The address that produced a login signature (the venue's check)."""
    return str(Account.recover_message(encode_defunct(text=str(timestamp_ms)),
                                       signature=signature))


def recover_action_signer(action: TradeAction, signature: str, *, domain_separator: str,
                          action_typehash: str) -> str:
    """The address that signed ``action`` (the venue's check)."""
    return str(Account.recover_message(action.signable(domain_separator, action_typehash),
                                       signature=signature))
