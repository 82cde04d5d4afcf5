//! The app's window as the X server sees it: closing it the way a window manager's close button
//! does (a `WM_DELETE_WINDOW` message, which the app may refuse), whether it is shown, and what
//! it shows (the screenshots the tests leave).

use x11rb::COPY_DEPTH_FROM_PARENT;
use x11rb::COPY_FROM_PARENT;
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt, CreateWindowAux, EventMask, ImageFormat,
    InputFocus, MapState, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// The display the tests run on.
pub struct Display {
    conn: RustConnection,
    root: Window,
}

impl Display {
    pub fn open() -> Self {
        let (conn, screen) = x11rb::connect(None).expect("the test display");
        let root = conn.setup().roots[screen].root;
        Self { conn, root }
    }

    fn atom(&self, name: &str) -> u32 {
        self.conn
            .intern_atom(false, name.as_bytes())
            .expect("intern")
            .reply()
            .expect("atom")
            .atom
    }

    /// The top-level windows titled `title`.
    fn windows(&self, title: &str) -> Vec<Window> {
        let tree = self
            .conn
            .query_tree(self.root)
            .expect("tree")
            .reply()
            .expect("tree reply");
        tree.children
            .into_iter()
            .filter(|&window| {
                self.conn
                    .get_property(false, window, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 256)
                    .ok()
                    .and_then(|cookie| cookie.reply().ok())
                    .is_some_and(|reply| reply.value == title.as_bytes())
            })
            .collect()
    }

    /// Asks every window titled `title` to close, as a window manager does.
    pub fn request_close(&self, title: &str) {
        let (protocols, delete) = (self.atom("WM_PROTOCOLS"), self.atom("WM_DELETE_WINDOW"));
        let windows = self.windows(title);
        assert!(!windows.is_empty(), "no window titled {title:?}");
        for window in windows {
            let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
            self.conn
                .send_event(false, window, EventMask::NO_EVENT, event)
                .expect("send");
        }
        self.conn.flush().expect("flush");
    }

    /// Gives the keyboard focus to a window of another program, as when the user turns to it:
    /// a small window this connection maps (it goes when the `Display` is dropped, so keep it
    /// while the app should stay in the background).
    pub fn focus_elsewhere(&self) {
        let window = self.conn.generate_id().expect("an id");
        let attributes = CreateWindowAux::new().event_mask(EventMask::STRUCTURE_NOTIFY);
        self.conn
            .create_window(
                COPY_DEPTH_FROM_PARENT,
                window,
                self.root,
                0,
                0,
                10,
                10,
                0,
                WindowClass::INPUT_OUTPUT,
                COPY_FROM_PARENT,
                &attributes,
            )
            .expect("create a window");
        self.conn.map_window(window).expect("map it");
        self.conn.flush().expect("flush");
        // Only a viewable window can take the focus.
        loop {
            match self.conn.wait_for_event().expect("an X event") {
                Event::MapNotify(event) if event.window == window => break,
                _ => {}
            }
        }
        self.conn
            .set_input_focus(InputFocus::PARENT, window, x11rb::CURRENT_TIME)
            .expect("set focus")
            .check()
            .expect("the focus moved");
    }

    /// What the first window titled `title` that is on screen shows, as the X server has it:
    /// its width, height and RGB pixels row by row. `None` when no such window is shown.
    pub fn capture(&self, title: &str) -> Option<(u32, u32, Vec<u8>)> {
        let window = self.shown_window(title)?;
        let geometry = self.conn.get_geometry(window).ok()?.reply().ok()?;
        let screen = self.conn.get_geometry(self.root).ok()?.reply().ok()?;
        let at = self
            .conn
            .translate_coordinates(window, self.root, 0, 0)
            .ok()?
            .reply()
            .ok()?;
        // The part of the window on the screen, read from the root window: the X server refuses
        // to read a window that reaches past the screen's edge.
        let (x, y) = (at.dst_x.max(0), at.dst_y.max(0));
        let right = (i32::from(at.dst_x) + i32::from(geometry.width)).min(i32::from(screen.width));
        let bottom =
            (i32::from(at.dst_y) + i32::from(geometry.height)).min(i32::from(screen.height));
        let width = u16::try_from(right - i32::from(x)).ok()?;
        let height = u16::try_from(bottom - i32::from(y)).ok()?;
        let image = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                x,
                y,
                width,
                height,
                u32::MAX,
            )
            .ok()?
            .reply()
            .ok()?;
        // Depth 24 comes as 32 bits a pixel, blue first.
        let rgb = image
            .data
            .chunks_exact(4)
            .flat_map(|px| [px[2], px[1], px[0]])
            .collect();
        Some((u32::from(width), u32::from(height), rgb))
    }

    /// Whether a window titled `title` is on screen.
    pub fn shown(&self, title: &str) -> bool {
        self.shown_window(title).is_some()
    }

    /// The first window titled `title` that is on screen.
    fn shown_window(&self, title: &str) -> Option<Window> {
        self.windows(title).into_iter().find(|&window| {
            self.conn
                .get_window_attributes(window)
                .ok()
                .and_then(|cookie| cookie.reply().ok())
                .is_some_and(|attributes| attributes.map_state == MapState::VIEWABLE)
        })
    }
}
