//! IANA IKEv2 registries used across the crate (RFC 7296 section 3, IANA "IKEv2 Parameters").
//!
//! Each registry is a transparent newtype over the wire integer rather than a closed enum, so an
//! unknown value received from a peer survives decode -> encode unchanged and can still be named in a
//! log line ("ENCR(1031)").

// The algorithm registries (transform types and IDs) and ID types are version-neutral and live in
// rswan-ike's catalogue; re-exported here so `crate::consts::EncrId` keeps working.
pub use rswan_ike::alg::{EncrId, EsnId, IntegId, KeGroup, PrfId, TransformType};
pub use rswan_ike::auth::AuthMethod;
pub use rswan_ike::identity::IdType;
use rswan_ike::registry;

registry! {
    /// Exchange type (RFC 7296 section 3.1).
    ExchangeType(u8) {
        IKE_SA_INIT = 34 => "IKE_SA_INIT",
        IKE_AUTH = 35 => "IKE_AUTH",
        CREATE_CHILD_SA = 36 => "CREATE_CHILD_SA",
        INFORMATIONAL = 37 => "INFORMATIONAL",
        IKE_SESSION_RESUME = 38 => "IKE_SESSION_RESUME",
        IKE_INTERMEDIATE = 43 => "IKE_INTERMEDIATE",
    }
}

registry! {
    /// Next Payload / payload type (RFC 7296 section 3.2, RFC 7383).
    PayloadType(u8) {
        NONE = 0 => "NONE",
        SA = 33 => "SA",
        KE = 34 => "KE",
        IDI = 35 => "IDi",
        IDR = 36 => "IDr",
        CERT = 37 => "CERT",
        CERTREQ = 38 => "CERTREQ",
        AUTH = 39 => "AUTH",
        NONCE = 40 => "Nonce",
        NOTIFY = 41 => "Notify",
        DELETE = 42 => "Delete",
        VENDOR_ID = 43 => "Vendor ID",
        TSI = 44 => "TSi",
        TSR = 45 => "TSr",
        SK = 46 => "SK",
        CP = 47 => "CP",
        EAP = 48 => "EAP",
        GSPM = 49 => "GSPM",
        SKF = 53 => "SKF",
    }
}

registry! {
    /// Security protocol ID (RFC 7296 section 3.3.1).
    ProtocolId(u8) {
        NONE = 0 => "NONE",
        IKE = 1 => "IKE",
        AH = 2 => "AH",
        ESP = 3 => "ESP",
    }
}

registry! {
    /// Certificate encoding (RFC 7296 section 3.6).
    CertEncoding(u8) {
        PKCS7_X509 = 1 => "PKCS #7 wrapped X.509",
        PGP = 2 => "PGP",
        DNS_KEY = 3 => "DNS signed key",
        X509_SIGNATURE = 4 => "X.509 certificate - signature",
        KERBEROS = 6 => "Kerberos token",
        CRL = 7 => "certificate revocation list",
        ARL = 8 => "authority revocation list",
        SPKI = 9 => "SPKI certificate",
        X509_ATTRIBUTE = 10 => "X.509 certificate - attribute",
        RAW_RSA_KEY = 11 => "raw RSA key",
        HASH_URL_X509_CERT = 12 => "hash and URL of X.509 certificate",
        HASH_URL_X509_BUNDLE = 13 => "hash and URL of X.509 bundle",
        RAW_PUBLIC_KEY = 15 => "raw public key",
    }
}

registry! {
    /// Traffic selector type (RFC 7296 section 3.13.1).
    TsType(u8) {
        IPV4_ADDR_RANGE = 7 => "TS_IPV4_ADDR_RANGE",
        IPV6_ADDR_RANGE = 8 => "TS_IPV6_ADDR_RANGE",
    }
}

registry! {
    /// Configuration payload type (RFC 7296 section 3.15).
    CfgType(u8) {
        CFG_REQUEST = 1 => "CFG_REQUEST",
        CFG_REPLY = 2 => "CFG_REPLY",
        CFG_SET = 3 => "CFG_SET",
        CFG_ACK = 4 => "CFG_ACK",
    }
}

registry! {
    /// Configuration attribute type (RFC 7296 section 3.15.1).
    CfgAttrType(u16) {
        INTERNAL_IP4_ADDRESS = 1 => "INTERNAL_IP4_ADDRESS",
        INTERNAL_IP4_NETMASK = 2 => "INTERNAL_IP4_NETMASK",
        INTERNAL_IP4_DNS = 3 => "INTERNAL_IP4_DNS",
        INTERNAL_IP4_NBNS = 4 => "INTERNAL_IP4_NBNS",
        INTERNAL_IP4_DHCP = 6 => "INTERNAL_IP4_DHCP",
        APPLICATION_VERSION = 7 => "APPLICATION_VERSION",
        INTERNAL_IP6_ADDRESS = 8 => "INTERNAL_IP6_ADDRESS",
        INTERNAL_IP6_DNS = 10 => "INTERNAL_IP6_DNS",
        INTERNAL_IP6_DHCP = 12 => "INTERNAL_IP6_DHCP",
        INTERNAL_IP4_SUBNET = 13 => "INTERNAL_IP4_SUBNET",
        SUPPORTED_ATTRIBUTES = 14 => "SUPPORTED_ATTRIBUTES",
        INTERNAL_IP6_SUBNET = 15 => "INTERNAL_IP6_SUBNET",
        INTERNAL_DNS_DOMAIN = 25 => "INTERNAL_DNS_DOMAIN",
    }
}

registry! {
    /// Notify message type (RFC 7296 section 3.10.1 and later RFCs). Values below 16384 are errors.
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1 => "UNSUPPORTED_CRITICAL_PAYLOAD",
        INVALID_IKE_SPI = 4 => "INVALID_IKE_SPI",
        INVALID_MAJOR_VERSION = 5 => "INVALID_MAJOR_VERSION",
        INVALID_SYNTAX = 7 => "INVALID_SYNTAX",
        INVALID_MESSAGE_ID = 9 => "INVALID_MESSAGE_ID",
        INVALID_SPI = 11 => "INVALID_SPI",
        NO_PROPOSAL_CHOSEN = 14 => "NO_PROPOSAL_CHOSEN",
        INVALID_KE_PAYLOAD = 17 => "INVALID_KE_PAYLOAD",
        AUTHENTICATION_FAILED = 24 => "AUTHENTICATION_FAILED",
        SINGLE_PAIR_REQUIRED = 34 => "SINGLE_PAIR_REQUIRED",
        NO_ADDITIONAL_SAS = 35 => "NO_ADDITIONAL_SAS",
        INTERNAL_ADDRESS_FAILURE = 36 => "INTERNAL_ADDRESS_FAILURE",
        FAILED_CP_REQUIRED = 37 => "FAILED_CP_REQUIRED",
        TS_UNACCEPTABLE = 38 => "TS_UNACCEPTABLE",
        INVALID_SELECTORS = 39 => "INVALID_SELECTORS",
        UNACCEPTABLE_ADDRESSES = 40 => "UNACCEPTABLE_ADDRESSES",
        UNEXPECTED_NAT_DETECTED = 41 => "UNEXPECTED_NAT_DETECTED",
        USE_ASSIGNED_HOA = 42 => "USE_ASSIGNED_HOA",
        TEMPORARY_FAILURE = 43 => "TEMPORARY_FAILURE",
        CHILD_SA_NOT_FOUND = 44 => "CHILD_SA_NOT_FOUND",
        INVALID_GROUP_ID = 45 => "INVALID_GROUP_ID",
        AUTHORIZATION_FAILED = 46 => "AUTHORIZATION_FAILED",
        STATE_NOT_FOUND = 47 => "STATE_NOT_FOUND",
        INITIAL_CONTACT = 16384 => "INITIAL_CONTACT",
        SET_WINDOW_SIZE = 16385 => "SET_WINDOW_SIZE",
        ADDITIONAL_TS_POSSIBLE = 16386 => "ADDITIONAL_TS_POSSIBLE",
        IPCOMP_SUPPORTED = 16387 => "IPCOMP_SUPPORTED",
        NAT_DETECTION_SOURCE_IP = 16388 => "NAT_DETECTION_SOURCE_IP",
        NAT_DETECTION_DESTINATION_IP = 16389 => "NAT_DETECTION_DESTINATION_IP",
        COOKIE = 16390 => "COOKIE",
        USE_TRANSPORT_MODE = 16391 => "USE_TRANSPORT_MODE",
        HTTP_CERT_LOOKUP_SUPPORTED = 16392 => "HTTP_CERT_LOOKUP_SUPPORTED",
        REKEY_SA = 16393 => "REKEY_SA",
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394 => "ESP_TFC_PADDING_NOT_SUPPORTED",
        NON_FIRST_FRAGMENTS_ALSO = 16395 => "NON_FIRST_FRAGMENTS_ALSO",
        MOBIKE_SUPPORTED = 16396 => "MOBIKE_SUPPORTED",
        ADDITIONAL_IP4_ADDRESS = 16397 => "ADDITIONAL_IP4_ADDRESS",
        ADDITIONAL_IP6_ADDRESS = 16398 => "ADDITIONAL_IP6_ADDRESS",
        NO_ADDITIONAL_ADDRESSES = 16399 => "NO_ADDITIONAL_ADDRESSES",
        UPDATE_SA_ADDRESSES = 16400 => "UPDATE_SA_ADDRESSES",
        COOKIE2 = 16401 => "COOKIE2",
        NO_NATS_ALLOWED = 16402 => "NO_NATS_ALLOWED",
        AUTH_LIFETIME = 16403 => "AUTH_LIFETIME",
        MULTIPLE_AUTH_SUPPORTED = 16404 => "MULTIPLE_AUTH_SUPPORTED",
        ANOTHER_AUTH_FOLLOWS = 16405 => "ANOTHER_AUTH_FOLLOWS",
        REDIRECT_SUPPORTED = 16406 => "REDIRECT_SUPPORTED",
        REDIRECT = 16407 => "REDIRECT",
        REDIRECTED_FROM = 16408 => "REDIRECTED_FROM",
        TICKET_LT_OPAQUE = 16409 => "TICKET_LT_OPAQUE",
        TICKET_REQUEST = 16410 => "TICKET_REQUEST",
        TICKET_ACK = 16411 => "TICKET_ACK",
        TICKET_NACK = 16412 => "TICKET_NACK",
        TICKET_OPAQUE = 16413 => "TICKET_OPAQUE",
        EAP_ONLY_AUTHENTICATION = 16417 => "EAP_ONLY_AUTHENTICATION",
        CHILDLESS_IKEV2_SUPPORTED = 16418 => "CHILDLESS_IKEV2_SUPPORTED",
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420 => "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
        IKEV2_FRAGMENTATION_SUPPORTED = 16430 => "IKEV2_FRAGMENTATION_SUPPORTED",
        SIGNATURE_HASH_ALGORITHMS = 16431 => "SIGNATURE_HASH_ALGORITHMS",
        CLONE_IKE_SA_SUPPORTED = 16432 => "CLONE_IKE_SA_SUPPORTED",
        CLONE_IKE_SA = 16433 => "CLONE_IKE_SA",
        USE_PPK = 16435 => "USE_PPK",
        PPK_IDENTITY = 16436 => "PPK_IDENTITY",
        NO_PPK_AUTH = 16437 => "NO_PPK_AUTH",
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438 => "INTERMEDIATE_EXCHANGE_SUPPORTED",
    }
}

impl NotifyType {
    /// Error types are 0..16383 (RFC 7296 section 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

registry! {
    /// Transform attribute type (RFC 7296 section 3.3.5).
    TransformAttrType(u16) {
        KEY_LENGTH = 14 => "Key Length",
    }
}
