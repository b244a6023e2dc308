// Korean and English labels; the choice is remembered in localStorage ('food.lang').
const STRINGS = {
        en: {
                title: 'Food Saga',
                langToggle: '한국어',
                signOut: 'Sign out',
                signInTitle: 'Sign in',
                signInDev: 'Local mode: pick a role (POST /auth/dev-token).',
                signInNoDev: 'This gateway issues no demo tokens. Paste a bearer token.',
                userId: 'User id',
                asCustomer: 'Customer',
                asStore: 'Store owner',
                asRider: 'Rider',
                chooseStore: 'Which store?',
                pasteToken: 'Paste a token',
                useToken: 'Use this token',
                badToken: 'This is not a bearer token of a customer, store owner or rider (JWT with sub and role).',
                expired: 'The token has expired; sign in again.',
                signedInAs: 'Signed in as {sub} ({role})',
                roleCustomer: 'customer', roleStore: 'store owner', roleRider: 'rider', roleAdmin: 'admin',
                adminNoUi: 'Administrators use the HTTP API (openapi.yaml); this UI is for customers, stores and riders.',
                networkError: 'The gateway cannot be reached ({what}).',
                dismiss: 'Dismiss',
                loading: 'Loading…',
                // customer
                navShop: 'Order food', navOrders: 'My orders', navMe: 'Coupons & messages',
                region: 'Region', allRegions: 'All regions',
                stores: 'Stores', menu: 'Menu', noStores: 'No store here.',
                soldOut: 'Sold out', add: 'Add',
                cart: 'Cart', cartEmpty: 'Your cart is empty: add something from a menu.',
                cartOtherStore: 'The cart held items of another store; it now starts afresh.',
                remove: 'Remove', total: 'Total', discount: 'Discount', paid: 'Paid', refunded: 'Refunded',
                address: 'Delivery address', note: 'Request to the store', coupon: 'Coupon', noCoupon: 'No coupon',
                card: 'Card (sandbox token)', placeOrder: 'Place order', placing: 'Paying…',
                defaultAddress: '12 Teheran-ro, apt 301',
                order: 'Order', status: 'Status', items: 'Items', timeline: 'Progress',
                cancelOrder: 'Cancel order', confirmOrder: 'I received it', modifyOrder: 'Change order',
                saveChanges: 'Save changes', close: 'Close', quantity: 'Qty',
                live: 'live', reconnecting: 'reconnecting…', ended: 'final',
                reason: 'Reason', rider: 'Rider',
                noOrders: 'No orders yet.', open: 'Open',
                grade: 'Grade', completedOrders: 'Completed orders', coupons: 'Coupons', noCouponsYet: 'No coupons.',
                used: 'used', notifications: 'Messages', noNotifications: 'No messages yet.',
                forStore: 'for {store}',
                // store
                inbox: 'Inbox', inboxEmpty: 'No open orders.', recent: 'Finished here',
                accept: 'Accept', refuse: 'Refuse', refuseReason: 'Reason for refusing',
                defaultRefuseReason: 'We cannot take this order right now.',
                cookingStarted: 'Cooking started', cookingFinished: 'Cooking finished', waitingRider: 'Waiting for a rider',
                issueCoupon: 'Issue a coupon', customerId: 'Customer id', amount: 'Discount (KRW)', issue: 'Issue',
                couponIssued: 'Coupon {id} issued to {customer}.',
                // rider
                openDeliveries: 'Open deliveries', noDeliveries: 'No delivery waiting.', myDeliveries: 'My deliveries',
                pickup: 'Pick up', dropoff: 'Deliver to', pick: 'Pick', delivered: 'Delivered',
                picked: 'Picked', done: 'Delivered',
        },
        ko: {
                title: '푸드 사가',
                langToggle: 'English',
                signOut: '로그아웃',
                signInTitle: '로그인',
                signInDev: '로컬 모드: 역할을 고르세요 (POST /auth/dev-token).',
                signInNoDev: '이 게이트웨이는 데모 토큰을 발급하지 않습니다. 베어러 토큰을 붙여 넣으세요.',
                userId: '사용자 ID',
                asCustomer: '고객',
                asStore: '가게 사장님',
                asRider: '라이더',
                chooseStore: '어느 가게인가요?',
                pasteToken: '토큰 붙여 넣기',
                useToken: '이 토큰 사용',
                badToken: '고객, 가게 사장님 또는 라이더의 베어러 토큰(sub와 role이 있는 JWT)이 아닙니다.',
                expired: '토큰이 만료되었습니다. 다시 로그인하세요.',
                signedInAs: '{sub} ({role}) 로그인됨',
                roleCustomer: '고객', roleStore: '가게 사장님', roleRider: '라이더', roleAdmin: '관리자',
                adminNoUi: '관리자는 HTTP API(openapi.yaml)를 사용합니다. 이 화면은 고객, 가게, 라이더용입니다.',
                networkError: '게이트웨이에 연결할 수 없습니다 ({what}).',
                dismiss: '닫기',
                loading: '불러오는 중…',
                navShop: '주문하기', navOrders: '주문 내역', navMe: '쿠폰과 알림',
                region: '지역', allRegions: '모든 지역',
                stores: '가게', menu: '메뉴', noStores: '이 지역에 가게가 없습니다.',
                soldOut: '품절', add: '담기',
                cart: '장바구니', cartEmpty: '장바구니가 비어 있습니다. 메뉴에서 담아 주세요.',
                cartOtherStore: '다른 가게의 메뉴가 담겨 있어 장바구니를 새로 시작합니다.',
                remove: '빼기', total: '합계', discount: '할인', paid: '결제', refunded: '환불',
                address: '배달 주소', note: '가게 요청 사항', coupon: '쿠폰', noCoupon: '쿠폰 없음',
                card: '카드 (샌드박스 토큰)', placeOrder: '주문하기', placing: '결제 중…',
                defaultAddress: '테헤란로 12, 301호',
                order: '주문', status: '상태', items: '메뉴', timeline: '진행 상황',
                cancelOrder: '주문 취소', confirmOrder: '잘 받았어요', modifyOrder: '주문 변경',
                saveChanges: '변경 저장', close: '닫기', quantity: '수량',
                live: '실시간', reconnecting: '다시 연결 중…', ended: '최종',
                reason: '사유', rider: '라이더',
                noOrders: '아직 주문이 없습니다.', open: '보기',
                grade: '등급', completedOrders: '완료된 주문', coupons: '쿠폰', noCouponsYet: '쿠폰이 없습니다.',
                used: '사용함', notifications: '알림', noNotifications: '아직 알림이 없습니다.',
                forStore: '{store} 전용',
                inbox: '주문 접수함', inboxEmpty: '처리할 주문이 없습니다.', recent: '처리 완료',
                accept: '접수', refuse: '거절', refuseReason: '거절 사유',
                defaultRefuseReason: '지금은 주문을 받을 수 없습니다.',
                cookingStarted: '조리 시작', cookingFinished: '조리 완료', waitingRider: '라이더 기다리는 중',
                issueCoupon: '쿠폰 발급', customerId: '고객 ID', amount: '할인 금액 (원)', issue: '발급',
                couponIssued: '쿠폰 {id}을(를) {customer}님께 발급했습니다.',
                openDeliveries: '배달 대기', noDeliveries: '기다리는 배달이 없습니다.', myDeliveries: '내 배달',
                pickup: '픽업', dropoff: '배달지', pick: '배차 받기', delivered: '배달 완료',
                picked: '픽업함', done: '배달 완료',
        },
};

// What each order status means to a person; the status name itself is always shown too (SPEC §6).
const STATUS = {
        en: {
                PAYMENT_PENDING: 'Paying', PAID: 'Paid, waiting for the store', ACCEPTED: 'Accepted by the store',
                COOKING: 'Cooking', COOKED: 'Cooked, waiting for a rider', PICKED_UP: 'On the way',
                DELIVERED: 'Delivered', COMPLETED: 'Completed', REFUSED: 'Refused by the store (refunded)',
                CANCELLED: 'Cancelled (refunded)', REJECTED: 'Payment declined',
        },
        ko: {
                PAYMENT_PENDING: '결제 중', PAID: '결제 완료, 가게 확인 중', ACCEPTED: '가게가 접수함', COOKING: '조리 중',
                COOKED: '조리 완료, 라이더 배정 중', PICKED_UP: '배달 중', DELIVERED: '배달 완료', COMPLETED: '주문 완료',
                REFUSED: '가게가 거절함 (환불)', CANCELLED: '취소됨 (환불)', REJECTED: '결제 거절',
        },
};

const KEY = 'food.lang';
let lang = (() => {
        const saved = localStorage.getItem(KEY);
        if (saved === 'ko' || saved === 'en') return saved;
        return (navigator.language || '').toLowerCase().startsWith('ko') ? 'ko' : 'en';
})();

export function getLang() {
        return lang;
}

export function setLang(l) {
        lang = l === 'ko' ? 'ko' : 'en';
        localStorage.setItem(KEY, lang);
        document.documentElement.lang = lang;
}

// The label `key` in the current language with {name} placeholders filled from vars.
export function t(key, vars = {}) {
        const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
        return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

export function statusText(status) {
        return STATUS[lang][status] || status;
}

// Integer KRW: "₩12,000" / "12,000원".
export function money(n) {
        const v = new Intl.NumberFormat(lang === 'ko' ? 'ko-KR' : 'en-US').format(n ?? 0);
        return lang === 'ko' ? `${v}원` : `₩${v}`;
}

export function when(iso) {
        if (!iso) return '';
        const d = new Date(iso);
        return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString(lang === 'ko' ? 'ko-KR' : 'en-GB');
}

// The demo catalog's regions by name; any other region shows as it is.
const REGIONS = { gangnam: ['Gangnam', '강남'], mapo: ['Mapo', '마포'], jongno: ['Jongno', '종로'] };

export function regionName(r) {
        return REGIONS[r] ? REGIONS[r][lang === 'ko' ? 1 : 0] : r;
}

// A catalog entry's name in the current language (the catalog has name and name_en).
export function nameOf(x) {
        if (!x) return '';
        return lang === 'en' && x.name_en ? x.name_en : x.name;
}
