//! Linux XFRM over netlink.
