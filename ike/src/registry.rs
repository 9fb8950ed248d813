//! The shape every IANA registry takes in rswan: a transparent newtype over the wire integer rather
//! than a closed enum, so an unknown value received from a peer survives decode -> encode unchanged
//! and can still be named in a log line ("ENCR(1031)"). Exported so that the protocol crates declare
//! their own wire registries the same way.

/// Declares a registry newtype with named constants, `name()`, `Display`/`Debug` and `From<repr>`.
#[macro_export]
macro_rules! registry {
    ($(#[$meta:meta])* $name:ident($repr:ty) { $($(#[$cmeta:meta])* $const:ident = $val:expr => $text:expr,)* }) => {
        $(#[$meta])*
        #[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $repr);

        impl $name {
            $($(#[$cmeta])* pub const $const: $name = $name($val);)*

            /// The registry's name for this value, if it is one we know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($text),)*
                    _ => None,
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(self, f)
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self { $name(v) }
        }
    };
}
